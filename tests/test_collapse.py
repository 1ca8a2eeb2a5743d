"""The duplicate-grouping rules, on hand-made sentence vectors."""

from __future__ import annotations

import numpy as np

from semsearch.search.collapse import CollapseConfig, Collapser
from semsearch.text.analyzer import salient_numbers


def unit(angle_deg: float) -> np.ndarray:
    """A unit vector whose cosine with unit(0) is cos(angle)."""
    a = np.deg2rad(angle_deg)
    return np.array([np.cos(a), np.sin(a), 0.0])


def cos_angle(c: float) -> float:
    return float(np.rad2deg(np.arccos(c)))


def test_salient_numbers_skip_years_and_small_numbers():
    assert salient_numbers("2 500 soldats en 2014, 900 en Syrie, 3 frappes, 2.500 hommes") == {"2500", "900"}
    assert salient_numbers("en 1763 puis en 987") == {"987"}


def test_near_identical_sentences_group_without_numbers():
    numbers = {0: set(), 1: set()}
    collapser = Collapser(CollapseConfig(), numbers.get)
    collapser.add_leader(0, doc=0, vector=unit(0))
    assert collapser.place(1, doc=1, vector=unit(cos_angle(0.97))) is not None


def test_close_sentences_need_two_shared_numbers_to_found_a_group():
    numbers = {0: {"2500", "900"}, 1: {"2500", "900"}, 2: {"2500"}}
    collapser = Collapser(CollapseConfig(), numbers.get)
    collapser.add_leader(0, doc=0, vector=unit(0))
    assert collapser.place(2, doc=2, vector=unit(cos_angle(0.94))) is None  # one number is not enough
    assert collapser.place(1, doc=1, vector=unit(cos_angle(0.94))) is not None


def test_an_established_number_lets_a_looser_report_join():
    numbers = {0: {"2500", "900"}, 1: {"2500", "900"}, 2: {"2500"}, 3: {"2500"}}
    collapser = Collapser(CollapseConfig(), numbers.get)
    collapser.add_leader(0, doc=0, vector=unit(0))
    assert collapser.place(2, doc=2, vector=unit(cos_angle(0.87))) is None  # no established fact yet
    collapser.place(1, doc=1, vector=unit(cos_angle(0.95)))
    group = collapser.place(3, doc=3, vector=unit(cos_angle(0.87)))
    assert group is not None and group.members == [1, 3]


def test_same_document_and_dissimilar_sentences_never_group():
    numbers = {0: {"2500", "900"}, 1: {"2500", "900"}, 2: {"2500", "900"}}
    collapser = Collapser(CollapseConfig(), numbers.get)
    collapser.add_leader(0, doc=0, vector=unit(0))
    assert collapser.place(1, doc=0, vector=unit(0)) is None
    assert collapser.place(2, doc=2, vector=unit(cos_angle(0.5))) is None


def test_documents_under_one_headline_group_only_on_a_near_copy():
    numbers = {0: {"2500", "900"}, 1: {"2500", "900"}, 2: set(), 3: set()}
    collapser = Collapser(CollapseConfig(), numbers.get)
    collapser.add_leader(0, doc=0, vector=unit(0), headline=7)
    # another paragraph of the same article: close, same numbers, still not another outlet's report
    assert collapser.place(1, doc=1, vector=unit(cos_angle(0.97)), headline=7) is None
    assert collapser.place(2, doc=2, vector=unit(cos_angle(0.995)), headline=7) is not None  # a reprint
    # the same closeness under another headline groups as before
    assert collapser.place(3, doc=3, vector=unit(cos_angle(0.97)), headline=8) is not None
