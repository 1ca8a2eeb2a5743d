"""Cross-lingual search: a question in one language finds passages in another (issue #22)."""

from __future__ import annotations

import numpy as np

from semsearch.search.fusion import FusionConfig, sentence_weights
from semsearch.search.searcher import query_terms
from semsearch.text.analyzer import analyze, bridge_terms


def test_bridge_terms_meet_the_french_analysis_of_names_numbers_and_cognates():
    french = set(analyze("La révolution de Napoléon a coûté 54 435 soldats à l'armée.", "fr"))
    bridged = bridge_terms("How much did Napoleon's revolution cost: 54,435 soldiers?", "en", "fr")
    assert {"napoleon", "revolu", "54435"} <= french & set(bridged)


def test_bridge_terms_drop_the_stop_words_of_both_languages():
    bridged = bridge_terms("What is the name of the river in the city?", "en", "fr")
    assert not {"what", "is", "the", "of", "in"} & set(bridged)
    assert bridge_terms("Quelle est la ville de la rivière ?", "fr", "en") == ["vill", "rivier"]


def test_bridge_terms_fold_accents_before_the_target_stemmer():
    # an English passage writes "Francoise" or "Françoise"; either is analyzed to the same folded term
    assert bridge_terms("Qui est Françoise ?", "fr", "en") == analyze("Who is Francoise?", "en")


def test_bridge_terms_in_the_query_language_are_its_own_analysis():
    assert bridge_terms("Combien de soldats ?", "fr", "fr") == analyze("Combien de soldats ?", "fr")


def test_query_terms_add_each_other_index_language_once():
    own = analyze("How many US soldiers are in Iraq?", "en")
    both = query_terms("How many US soldiers are in Iraq?", "en", ["fr"])
    assert both[: len(own)] == own
    extra = both[len(own):]
    assert extra and len(set(extra)) == len(extra) and not set(extra) & set(own)
    assert query_terms("How many US soldiers are in Iraq?", "en", ["fr"], bridge=False) == own
    assert query_terms("Combien de soldats ?", "fr", ["fr"]) == analyze("Combien de soldats ?", "fr")
    assert query_terms("How many soldiers?", "en", ["en", "xx", ""]) == analyze("How many soldiers?", "en")


def test_a_passage_in_another_language_takes_the_cross_language_sentence_weight():
    same = np.array([True, False, True])
    assert np.allclose(sentence_weights(FusionConfig(sentence_weight=0.7, cross_sentence_weight=0.3), same), [0.7, 0.3, 0.7])
    assert np.allclose(sentence_weights(FusionConfig(sentence_weight=0.7, cross_sentence_weight=None), same), [0.7, 0.7, 0.7])


# Acceptance: the real model over the French seeds.
ADVISER = "003_3b96de756cd836d9.txt#1"  # "le conseiller irakien à la sécurité nationale, Qassem Al-Araji"
RESOLUTION = "003_3b96de756cd836d9.txt#6"  # "le Parlement irakien avait voté en faveur d'une résolution ..."


def test_an_english_question_ranks_the_answering_french_passage_first(seed_searcher):
    result = seed_searcher.search("Who is Iraq's national security adviser?", k=3)
    assert result.query_lang == "en"
    top = result.results[0]
    assert (top.passage_id, top.lang) == (ADVISER, "fr")


def test_an_english_keyword_search_meets_french_passages_through_shared_words(seed_searcher):
    # "resolution" is "résolution" in French: only the French analysis of the English word meets it
    # (without the bridge terms this English question finds no passage at all in lexical mode)
    result = seed_searcher.search("Which resolution did the parliament vote?", k=3, mode="lexical")
    hits = result.results
    assert result.query_lang == "en" and hits and hits[0].passage_id == RESOLUTION
    assert any("résolution" in hits[0].text[a:b] for a, b in hits[0].highlight)
