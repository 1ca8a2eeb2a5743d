"""The write split in two, as `semsearch index --ray` uses it without Ray: segments prepared apart (by any
process, in a job's staging folder) and published by one driver in one commit point."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import pytest

from semsearch.distributed.staging.folder import VidPool, claim_vids, create_staging
from semsearch.distributed.staging.prepare import PreparedSegment, prepare_segment
from semsearch.distributed.staging.publish import open_staging, publish_segments
from semsearch.distributed.staging.vids import RESERVE_VIDS, staging_meta
from semsearch.documents import Document
from semsearch.index.chunking import ChunkingConfig, split_passages
from semsearch.index.writer import IndexWriter
from semsearch.store.commit import CommitPoint
from semsearch.store.commit_writer import ModelId
from semsearch.store.layout import FAULT_ENV, TMP_PREFIX, IndexDirectory
from semsearch.store.reader import open_index

from .test_segments import _doc, _final_documents, _results, _same
from .test_snapshots import FakeEmbedder

EMBEDDER = FakeEmbedder()
MODEL = ModelId(EMBEDDER.spec, EMBEDDER.dim)
CHUNKING = asdict(ChunkingConfig())


def _prepare(root: Path, staging: Path, docs: list[Document]) -> PreparedSegment:
    items = [(doc, split_passages(doc, EMBEDDER.count_tokens, ChunkingConfig())) for doc in docs]
    return prepare_segment(root, staging, items, EMBEDDER.embed_passages, EMBEDDER.dim)


def _commit(root: Path) -> CommitPoint:
    layout = IndexDirectory(root)
    return CommitPoint.read(layout.commit_path(layout.generation()))


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_segments_prepared_apart_and_published_in_one_commit_rank_like_one_write(tmp_path, mode):
    docs = _final_documents()
    root, layout = tmp_path / "parallel", IndexDirectory(tmp_path / "parallel")
    with layout.temp_folder() as staging:
        open_staging(layout, staging, MODEL, CHUNKING)
        prepared = [_prepare(root, staging, part) for part in (docs[:10], docs[10:25], docs[25:])]
        report = publish_segments(layout, prepared, MODEL, CHUNKING)
    assert len(prepared) == 3 and len(report.plan.added) == len(docs) and len(_commit(root).segments) == 3
    IndexWriter(tmp_path / "single", EMBEDDER).write(docs)
    parallel, single = open_index(root), open_index(tmp_path / "single")
    assert sorted(parallel.rows.doc_ids) == sorted(single.rows.doc_ids) and parallel.size == single.size
    for query in ("budget de la commune", "marché et foire aux livres", "conseil vote"):
        _same(_results(parallel, query, mode), _results(single, query, mode))


def test_the_last_copy_of_a_document_wins_across_prepared_segments_and_the_index(tmp_path):
    IndexWriter(tmp_path, EMBEDDER).write([_doc(1), _doc(2), _doc(4)])
    layout = IndexDirectory(tmp_path)
    with layout.temp_folder() as staging:
        open_staging(layout, staging, MODEL, CHUNKING)
        first = _prepare(tmp_path, staging, [_doc(1, 1), _doc(3), _doc(4)])  # d4 unchanged: replaced by its twin
        second = _prepare(tmp_path, staging, [_doc(1, 2), _doc(3, 1)])  # later copies of d1 and d3
        report = publish_segments(layout, [first, second], MODEL, CHUNKING, delete_ids=["d2", "d9"])
    plan = report.plan
    assert (len(plan.added), len(plan.updated), len(plan.unchanged), len(plan.deleted), plan.not_found) == (1, 1, 1, 1, ["d9"])
    reader = open_index(tmp_path)
    assert sorted(reader.rows.doc_ids) == ["d1", "d3", "d4"]  # one live copy each
    assert "version 2" in reader.fetch_document("d1")[0].text and "version 1" in reader.fetch_document("d3")[0].text
    assert reader.commit.documents == 3 and reader.commit.passages == reader.size


def test_a_prepared_segment_whose_documents_are_all_replaced_is_not_published(tmp_path):
    layout = IndexDirectory(tmp_path)
    with layout.temp_folder() as staging:
        open_staging(layout, staging, MODEL, CHUNKING)
        prepared = [_prepare(tmp_path, staging, [_doc(1)]), _prepare(tmp_path, staging, [_doc(1, 1), _doc(2)])]
        report = publish_segments(layout, prepared, MODEL, CHUNKING)
    assert len(report.segments) == 1 and len(report.plan.added) == 2
    assert [s.name for s in _commit(tmp_path).segments] == report.segments
    assert {p.name for p in layout.segments.iterdir()} == set(report.segments)


def test_a_prepared_segment_is_invisible_until_published_and_cleaned_once_its_job_is_gone(tmp_path):
    IndexWriter(tmp_path, EMBEDDER).write([_doc(1)])
    layout = IndexDirectory(tmp_path)
    with layout.temp_folder() as staging:
        open_staging(layout, staging, MODEL, CHUNKING)
        _prepare(tmp_path, staging, [_doc(2), _doc(3)])
        assert sorted(open_index(tmp_path).rows.doc_ids) == ["d1"]
        IndexWriter(tmp_path, EMBEDDER).write([_doc(5)])  # another writer's clean-up: the job still holds its folder
        assert staging.is_dir()
    killed = tmp_path / f"{TMP_PREFIX}killed-job"  # a job killed outright: its folder stays, its lock is gone
    killed.mkdir()
    create_staging(killed, staging_meta(MODEL, CHUNKING))
    _prepare(tmp_path, killed, [_doc(6)])
    assert sorted(open_index(tmp_path).rows.doc_ids) == ["d1", "d5"]
    IndexWriter(tmp_path, EMBEDDER).write([_doc(7)])
    assert not killed.exists() and sorted(open_index(tmp_path).rows.doc_ids) == ["d1", "d5", "d7"]


def test_a_job_reserves_passage_ids_apart_from_other_writers_and_gives_back_what_it_did_not_use(tmp_path):
    layout = IndexDirectory(tmp_path)
    with layout.temp_folder() as staging:
        open_staging(layout, staging, MODEL, CHUNKING)
        prepared = _prepare(tmp_path, staging, [_doc(1), _doc(2)])  # the first claim reserves ids in the index
        assert _commit(tmp_path).next_vid == RESERVE_VIDS and not _commit(tmp_path).segments
        publish_segments(layout, [prepared], MODEL, CHUNKING)
        assert _commit(tmp_path).next_vid == RESERVE_VIDS  # the job may still write
        publish_segments(layout, [], MODEL, CHUNKING, release=staging)
    assert _commit(tmp_path).next_vid == prepared.end_vid == prepared.passages
    with layout.temp_folder() as staging:
        open_staging(layout, staging, MODEL, CHUNKING)
        later = _prepare(tmp_path, staging, [_doc(4)])
        IndexWriter(tmp_path, EMBEDDER).write([_doc(3)])  # allocates after the job's reservation
        publish_segments(layout, [later], MODEL, CHUNKING, release=staging)
    reader = open_index(tmp_path)
    assert reader.commit.next_vid > later.end_vid + RESERVE_VIDS // 2  # nothing given back: another writer is above
    assert len(set(reader.rows.vids.tolist())) == reader.size and sorted(reader.rows.doc_ids) == ["d1", "d2", "d3", "d4"]


def test_concurrent_claims_get_distinct_passage_ids(tmp_path):
    create_staging(tmp_path, {}, VidPool(100, 125))
    reserved = iter([(1000, 1040), (5000, 5100)])
    claims = [claim_vids(tmp_path, 10, lambda n: next(reserved)) for _ in range(5)]
    assert claims == [100, 110, 1000, 1010, 1020]  # the pool's last 5 ids skipped: a claim takes consecutive ids
    with ThreadPoolExecutor(4) as pool:
        firsts = list(pool.map(lambda _: claim_vids(tmp_path, 3, lambda n: next(reserved)), range(20)))
    assert len(set(firsts)) == 20 and all(b - a >= 3 for a, b in zip(sorted(firsts), sorted(firsts)[1:]))


CRASHING_PUBLISH = """
import sys
from pathlib import Path
from semsearch.distributed.staging.publish import open_staging, publish_segments
from semsearch.store.layout import IndexDirectory
from tests.test_prepared_segments import CHUNKING, MODEL, _doc, _prepare
root = Path(sys.argv[1])
layout = IndexDirectory(root)
with layout.temp_folder() as staging:
    open_staging(layout, staging, MODEL, CHUNKING)
    publish_segments(layout, [_prepare(root, staging, [_doc(1, 1), _doc(2)])], MODEL, CHUNKING)
"""


@pytest.mark.parametrize("point", ["after_rename", "after_deletes"])
def test_a_driver_killed_while_publishing_leaves_the_previous_commit_and_nothing_else(tmp_path, point):
    IndexWriter(tmp_path, EMBEDDER).write([_doc(1)])
    env = {**os.environ, FAULT_ENV: point}
    proc = subprocess.run([sys.executable, "-c", CRASHING_PUBLISH, str(tmp_path)], env=env, cwd=Path(__file__).parent.parent, timeout=120)
    assert proc.returncode == -9
    reader = open_index(tmp_path)
    assert sorted(reader.rows.doc_ids) == ["d1"] and "version 0" in reader.fetch_document("d1")[0].text
    IndexWriter(tmp_path, EMBEDDER).write([_doc(3)])  # its clean-up removes what the killed job left
    layout = IndexDirectory(tmp_path)
    named = {s.name for g in layout.generations() for s in CommitPoint.read(layout.commit_path(g)).segments}
    assert {p.name for p in layout.segments.iterdir()} == named
    assert not any(p.name.startswith(TMP_PREFIX) for p in tmp_path.iterdir())
