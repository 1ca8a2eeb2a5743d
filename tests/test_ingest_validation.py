"""Ids and texts are validated in one place for files, JSON Lines, HTTP and web pages."""

import pytest

from semsearch.errors import InvalidInputError
from semsearch.ingest.readers import read_paths
from semsearch.ingest.validation import has_visible_text, validate_doc_id


def test_text_of_spaces_zero_width_and_bidi_controls_is_no_text():
    assert not has_visible_text(" \u200b\u200c\u200d\u2060\ufeff\u202e\u2066\n\t\u00a0")
    assert has_visible_text("\u200bIrak\u200b") and has_visible_text("١٢٣") and has_visible_text("日本")


@pytest.mark.parametrize("bad", ["a\u200bb", "\u202eevil", "x\u2066y", "\ufeffid"])
def test_ids_with_invisible_characters_are_refused_by_name(bad):
    with pytest.raises(InvalidInputError, match="invisible characters"):
        validate_doc_id(bad)


def test_a_text_file_of_zero_width_characters_is_reported_and_skipped(tmp_path):
    (tmp_path / "blank.txt").write_text("\u200b\u200c\u200d\n" * 20, encoding="utf-8")
    (tmp_path / "real.txt").write_text("Les soldats américains quittent la base de Bagdad après le vote du Parlement.\n")
    batch = read_paths([tmp_path])
    assert [d.doc_id for d in batch.documents] == ["real.txt"]
    assert [(p.origin.endswith("blank.txt"), "no visible characters" in p.reason) for p in batch.problems] == [(True, True)]
