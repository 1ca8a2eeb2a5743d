"""Shared fixtures: the real default model and one real index of the seeds, built once per run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"


def run_cli(*args: str, env: dict | None = None, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed console script in a subprocess, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSEARCH_")}
    full_env.update(env or {})
    exe = shutil.which("semsearch", path=str(Path(sys.executable).parent)) or shutil.which("semsearch")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "semsearch.cli", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def search_json(index_dir: Path, query: str, *extra: str) -> dict:
    proc = run_cli("search", query, "--index-dir", str(index_dir), "--json", *extra)
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def embedder():
    from semsearch.embedding import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def seed_index_master(tmp_path_factory) -> Path:
    """The seeds indexed once by the real CLI with the real default model."""
    index_dir = tmp_path_factory.mktemp("seed-index") / "index"
    run_cli("index", str(SEEDS), "--index-dir", str(index_dir), "--quiet")
    return index_dir


@pytest.fixture
def seed_index(seed_index_master: Path, tmp_path: Path) -> Path:
    """A private copy of the seed index that a test may modify."""
    copy = tmp_path / "index"
    shutil.copytree(seed_index_master, copy)
    return copy


@pytest.fixture(scope="session")
def seed_searcher(seed_index_master: Path, embedder):
    from semsearch.search.searcher import Searcher
    from semsearch.store.reader import open_index

    return Searcher(open_index(seed_index_master), embedder)


@pytest.fixture(scope="session")
def annotated_server(seed_index_master: Path, tmp_path_factory):
    """A real server over the seeds with their entities and stories (tests/annotated_seeds.py)."""
    from .annotated_seeds import annotated_server as start

    yield from start(seed_index_master, tmp_path_factory.mktemp("annotated"))
