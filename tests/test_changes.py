"""Cursors over written segments: what saved searches and stories react to."""

from semsearch.documents import Document
from semsearch.index.merge import Merger
from semsearch.index.writer import IndexWriter
from semsearch.store.changes import Cursor, read_cursor, save_cursor
from semsearch.store.commit import CommitPoint, SegmentEntry
from semsearch.store.layout import IndexDirectory

from .test_snapshots import FakeEmbedder


def _commit(generation: int, *segments: tuple[str, str]) -> CommitPoint:
    entries = [SegmentEntry(name, 3, 1, origin=origin) for name, origin in segments]
    return CommitPoint(generation, "m", 4, 10, "2026-01-01", segments=entries)


def test_a_new_consumer_starts_at_the_live_commit_and_sees_only_later_writes(tmp_path):
    first = _commit(3, ("a", "write"))
    cursor = read_cursor(tmp_path, "alerts", first)
    later = _commit(5, ("a", "write"), ("b", "write"), ("m1", "merge"))
    assert [s.name for s in cursor.new_segments(later)] == ["b"]


def test_a_saved_cursor_survives_and_forgets_merged_away_segments(tmp_path):
    commit = _commit(4, ("b", "write"), ("m1", "merge"))
    save_cursor(tmp_path, "stories", Cursor().advanced(commit))
    back = read_cursor(tmp_path, "stories")
    assert back == Cursor(4, frozenset({"b", "m1"}))
    assert back.new_segments(_commit(6, ("m2", "merge"), ("c", "write"))) == [SegmentEntry("c", 3, 1)]


def test_an_unreadable_cursor_counts_as_absent(tmp_path):
    (tmp_path / "cursors").mkdir()
    (tmp_path / "cursors" / "alerts.json").write_text('{"generation": "x"')
    assert read_cursor(tmp_path, "alerts") == Cursor()


def test_a_write_merged_away_before_a_consumer_looked_reaches_it_through_the_merged_segment(tmp_path):
    """A server opened after a CLI's write and a merge must still match the written documents."""
    def doc(name: str) -> Document:
        return Document(doc_id=name, title=name, text=f"Le conseil municipal de {name} a voté le budget de l'école.")

    writer = IndexWriter(tmp_path, FakeEmbedder())
    writer.write([doc("a")])
    layout = IndexDirectory(tmp_path)
    seen = Cursor().advanced(CommitPoint.read(layout.commit_path(layout.generation())))
    writer.write([doc("b")])
    writer.write([doc("c")])
    Merger(tmp_path).force_merge()
    merged = CommitPoint.read(layout.commit_path(layout.generation()))
    assert [s.origin for s in merged.segments] == ["merge"]
    assert [s.name for s in seen.new_segments(merged)] == [merged.segments[0].name]
    # once seen (or for a consumer that had seen b and c), the merged segment is not new again
    assert seen.advanced(merged).new_segments(merged) == []
    writer.write([doc("d")])
    latest = CommitPoint.read(layout.commit_path(layout.generation()))
    assert [s.origin for s in seen.advanced(merged).new_segments(latest)] == ["write"]


def test_a_merge_of_segments_the_cursor_has_seen_is_not_new():
    seen = Cursor(7, frozenset({"a", "b"}))
    merged = CommitPoint(9, "m", 4, 10, "2026-01-01", segments=[SegmentEntry("m1", 6, 2, origin="merge", written_at=7)])
    assert seen.new_segments(merged) == []
    later = CommitPoint(9, "m", 4, 10, "2026-01-01", segments=[SegmentEntry("m1", 6, 2, origin="merge", written_at=8)])
    assert [s.name for s in seen.new_segments(later)] == ["m1"]
