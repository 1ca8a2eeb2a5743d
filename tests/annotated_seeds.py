"""One `semsearch serve` over a copy of the seed index, shared by the entity and story tests (conftest's
`annotated_server`): the server extracts entities and places articles in stories when it opens the index."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from .conftest import ROOT
from .service_helpers import Server


def annotated_server(seed_index_master: Path, base: Path) -> Iterator[Server]:
    index_dir = base / "index"
    shutil.copytree(seed_index_master, index_dir)
    for leftover in ("entities.sqlite", "stories.sqlite", "cursors"):  # the server itself must build them
        path = index_dir / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    workdir = base / "cwd"
    workdir.mkdir()
    # this checkout's code, also where the installed `semsearch` is another checkout's editable install
    server = Server(index_dir, workdir, base / "serve.log", env={"PYTHONPATH": str(ROOT)})
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
    assert "Traceback" not in server.log_path.read_text(errors="replace"), server.log()
