"""The Docker image and the docker compose deployment, built and run on a real Docker engine.

The image is built from the repository's Dockerfile on a stand-in for python:3.11-slim, made from
Debian's packages where the real one cannot be pulled (scripts/docker_base_image.sh, kept between
runs); then the image serves the seeds with no network at all, and docker-compose.yml indexes, serves,
keeps writes across `down`/`up` and picks up new articles. Skipped, with the reason, where no Docker
engine answers and none can be started (.ci/run installs and starts one).

Every run has its own image tags and compose project; its containers, volumes, networks and images
are removed at the end, also when a check fails. The base image stays, as a pulled one would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import ROOT, SEEDS
from .service_helpers import SOLDIERS

BASE_IMAGE = "python:3.11-slim"
BASE_SCRIPT = ROOT / "scripts" / "docker_base_image.sh"
FR_QUESTION = "Combien de soldats américains sont en Irak ?"
EN_QUESTION = "How many US soldiers are in Iraq?"
UID = "10001"
# The classic builder, the one docker-compose v1 uses, on every Docker CLI (no buildx plugin needed).
BUILD_ENV = {"DOCKER_BUILDKIT": "0"}
READY_TIMEOUT_S = 180
HEALTHY_TIMEOUT_S = 150  # the compose healthcheck first runs 30 s after the api starts
API_KEY = secrets.token_hex(16)

pytestmark = pytest.mark.timeout(900)


def docker_env(**extra: str) -> dict[str, str]:
    """The environment of docker and docker-compose: none of the caller's SEMSEARCH_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
    env.update(BUILD_ENV)
    env.update(extra)
    return env


def run(args: list[str], timeout: float = 120, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env or docker_env(), cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
    return proc


def wait_for(what: str, probe: Callable[[], object], timeout: float, diagnose: Callable[[], str] = lambda: "") -> object:
    """probe() until it returns something truthy, at most `timeout` seconds; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(1)
    pytest.fail(f"{what}: not within {timeout:.0f} s (last: {last!r})\n{diagnose()}")


def answers(base_url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            return httpx.get(f"{base_url}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the engine, the base, the image


def _engine_answers(docker: str) -> bool:
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture(scope="module")
def docker(tmp_path_factory) -> Iterator[str]:
    """The docker CLI, with an engine that answers; one started here (root, dockerd installed) is stopped at the end."""
    cli = shutil.which("docker")
    if cli is None:
        pytest.skip("no docker CLI (apt-get install docker.io; .ci/run does it where it can)")
    if _engine_answers(cli):
        yield cli
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        pytest.skip("no Docker engine answers `docker info`, and none can be started here (needs root and dockerd)")
    log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen([dockerd], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _engine_answers(cli) and daemon.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
        if not _engine_answers(cli):
            pytest.skip(f"dockerd did not answer `docker info` within 60 s: {log.read_text(errors='replace')[-1500:]}")
        yield cli
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)


@pytest.fixture(scope="module")
def base_image(docker: str) -> str:
    """python:3.11-slim: the real one when it is there, else the stand-in (made once, then reused)."""
    if run([docker, "image", "inspect", BASE_IMAGE], check=False).returncode != 0:
        if os.geteuid() != 0 or shutil.which("debootstrap") is None:
            pytest.skip(f"{BASE_IMAGE} is not there, and its stand-in needs root and debootstrap (apt-get install debootstrap)")
        run(["bash", str(BASE_SCRIPT), BASE_IMAGE], timeout=900)
    return BASE_IMAGE


@pytest.fixture(scope="module")
def image_repo(docker: str, base_image: str) -> Iterator[str]:
    """A repository name of this run only; every tag made under it is removed at the end."""
    repo = f"semsearch-test-{secrets.token_hex(4)}"
    try:
        yield repo
    finally:
        tags = run([docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repo], check=False).stdout.split()
        if tags:
            run([docker, "image", "rm", "--force", *tags], check=False)


@pytest.fixture(scope="module")
def image(docker: str, image_repo: str) -> str:
    """The repository's Dockerfile, built as a user would (the builder stage tagged too, so that it goes at the end)."""
    run([docker, "build", "--target", "builder", "--tag", f"{image_repo}:builder", "."], timeout=900)
    run([docker, "build", "--tag", f"{image_repo}:latest", "."], timeout=600)
    return f"{image_repo}:latest"


# ---------------------------------------------------------------- the image alone, with no network


IN_CONTAINER_SEARCH = """
import json, sys, urllib.parse, urllib.request
url = "http://127.0.0.1:8000/search?k=3&q=" + urllib.parse.quote(sys.argv[1])
print(json.dumps(json.load(urllib.request.urlopen(url, timeout=60))))
"""
IN_CONTAINER_READY = """
import urllib.request
print(urllib.request.urlopen("http://127.0.0.1:8000/readyz", timeout=5).status)
"""


@pytest.fixture
def offline_container(docker: str, image: str) -> Iterator[str]:
    name = f"{image.split(':')[0]}-offline"
    try:
        run([docker, "run", "--detach", "--network", "none", "--name", name, image])
        yield name
    finally:
        run([docker, "rm", "--force", "--volumes", name], check=False)


def test_image_serves_the_seeds_in_french_and_english_with_no_network_as_uid_10001(docker, offline_container):
    name = offline_container

    def ready() -> bool:
        state = run([docker, "inspect", "--format", "{{.State.Running}}", name], check=False).stdout.strip()
        assert state == "true", f"the container stopped:\n{run([docker, 'logs', name], check=False).stderr[-3000:]}"
        return run([docker, "exec", name, "python", "-c", IN_CONTAINER_READY], check=False).stdout.strip() == "200"

    wait_for("/readyz 200 in the container", ready, READY_TIMEOUT_S, lambda: run([docker, "logs", name], check=False).stderr[-3000:])
    interfaces = run([docker, "exec", name, "cat", "/proc/net/dev"]).stdout
    assert [line.split(":")[0].strip() for line in interfaces.splitlines()[2:]] == ["lo"], interfaces
    for question in (FR_QUESTION, EN_QUESTION):
        body = json.loads(run([docker, "exec", name, "python", "-c", IN_CONTAINER_SEARCH, question], timeout=120).stdout)
        assert any(SOLDIERS.search(hit["text"]) for hit in body["results"]), (question, body)
    status = run([docker, "exec", name, "cat", "/proc/1/status"]).stdout
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids == [UID] * 4, status
    cmdline = run([docker, "exec", name, "cat", "/proc/1/cmdline"]).stdout.split("\0")
    assert "serve" in cmdline, cmdline


# ---------------------------------------------------------------- docker compose


@dataclass
class Compose:
    """docker-compose on the repository's docker-compose.yml, as project `project`, on this run's image."""

    cli: str
    docker: str
    project: str
    override: Path
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(self.override)]
        env_file = ["--env-file", str(self.override.with_name("empty.env"))]
        return run([self.cli, *files, *env_file, "--project-name", self.project, *args], timeout=timeout, check=check, env=self.env)

    def container(self, service: str) -> str:
        ids = self("ps", "--all", "--quiet", service).stdout.split()
        assert len(ids) == 1, f"{service}: containers {ids}"
        return ids[0]

    def state(self, service: str, template: str) -> str:
        return run([self.docker, "inspect", "--format", template, self.container(service)]).stdout.strip()

    def logs(self) -> str:
        return self("logs", "--no-color", "--tail", "60", check=False).stdout[-4000:]

    def volume_exists(self) -> bool:
        names = run([self.docker, "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={self.project}"]).stdout
        return bool(names.split())


@pytest.fixture
def compose(docker: str, image: str, tmp_path: Path) -> Iterator[tuple[Compose, Path, str]]:
    """A compose project of this run on a copy of the seeds, published on a free loopback port; (compose, corpus, url)."""
    cli = shutil.which("docker-compose")
    if cli is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose; .ci/run does it where it can)")
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    for path in (corpus, *corpus.iterdir()):  # read by the containers' user, uid 10001
        path.chmod(0o755 if path.is_dir() else 0o644)
    # the services run the image just built (`up --no-build`), not semsearch:latest, which other runs may retag
    override = tmp_path / "compose.override.yml"
    override.write_text(f"services:\n  indexer:\n    image: {image}\n  api:\n    image: {image}\n", encoding="utf-8")
    (tmp_path / "empty.env").write_text("", encoding="utf-8")  # a developer's .env beside docker-compose.yml does not apply
    port = free_port()
    env = docker_env(SEMSEARCH_PUBLISH=f"127.0.0.1:{port}", SEMSEARCH_CORPUS_DIR=str(corpus), SEMSEARCH_API_KEY=API_KEY)
    project = Compose(cli, docker, image.split(":")[0], override, env)
    try:
        yield project, corpus, f"http://127.0.0.1:{port}"
    finally:
        project("down", "--volumes", "--remove-orphans", "--timeout", "10", check=False)


WRITTEN = {"id": "2024/louvre.txt", "date": "2024-05", "text": "Le musée du Louvre restera ouvert jusqu'à minuit le vendredi dès juin."}
NEW_ARTICLE = ("100_tunnel.txt", "La Norvège a inauguré un tunnel sous-marin de 27 kilomètres entre Stavanger et Bergen.\n")


def doc_ids(base_url: str, question: str) -> list[str]:
    response = httpx.get(f"{base_url}/search", params={"q": question, "k": 5}, timeout=60)
    assert response.status_code == 200, response.text
    return [hit["doc_id"] for hit in response.json()["results"]]


def test_compose_indexes_serves_keeps_writes_across_down_and_up_and_indexes_new_articles(compose):
    project, corpus, url = compose
    project("up", "--detach", "--no-build", timeout=300)
    assert project.state("indexer", "{{.State.Status}} {{.State.ExitCode}}") == "exited 0", project.logs()
    wait_for("the api answers /readyz on the published port", answers(url), READY_TIMEOUT_S, project.logs)

    for question in (FR_QUESTION, EN_QUESTION):
        response = httpx.get(f"{url}/search", params={"q": question, "k": 3}, timeout=60)
        assert response.status_code == 200, response.text
        assert any(SOLDIERS.search(hit["text"]) for hit in response.json()["results"]), (question, response.json())
    assert httpx.post(f"{url}/documents", json={"documents": [WRITTEN]}, timeout=60).status_code == 401, "a write needs the key"
    written = httpx.post(f"{url}/documents", json={"documents": [WRITTEN]}, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120)
    assert written.status_code == 200 and written.json()["added"] == 1, written.text
    wait_for("the api is healthy", lambda: project.state("api", "{{.State.Health.Status}}") == "healthy", HEALTHY_TIMEOUT_S, project.logs)

    project("down", "--timeout", "15")
    assert project.volume_exists(), "`down` keeps the index volume"
    name, text = NEW_ARTICLE
    (corpus / name).write_text(text, encoding="utf-8")
    (corpus / name).chmod(0o644)
    project("up", "--detach", "--no-build", timeout=300)
    assert project.state("indexer", "{{.State.Status}} {{.State.ExitCode}}") == "exited 0", project.logs()
    wait_for("the api answers /readyz again", answers(url), READY_TIMEOUT_S, project.logs)
    kept = httpx.get(f"{url}/documents/{WRITTEN['id']}", timeout=30)
    assert kept.status_code == 200, f"the write did not survive down and up: {kept.text}"
    assert WRITTEN["id"] in doc_ids(url, "Quand le Louvre ferme-t-il le vendredi ?")
    assert name in doc_ids(url, "Norway opened an undersea tunnel between Stavanger and Bergen"), "the new article of the corpus folder"

    project("down", "--volumes", "--timeout", "15")
    assert not project.volume_exists(), "`down -v` deletes the index volume"
    assert not project("ps", "--all", "--quiet").stdout.split(), "no container is left"
