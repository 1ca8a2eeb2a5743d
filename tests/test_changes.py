"""Cursors over written segments: what saved searches and stories react to."""

from semsearch.store.changes import Cursor, read_cursor, save_cursor
from semsearch.store.commit import CommitPoint, SegmentEntry


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
