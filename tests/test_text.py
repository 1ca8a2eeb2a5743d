from semsearch.dates import date_bounds
from semsearch.errors import InvalidInputError
from semsearch.text.analyzer import analyze
from semsearch.text.lang import detect_language


def test_french_analysis_cuts_elisions_folds_accents_and_stems():
    terms = analyze("L'armée américaine et les armées d'Irak jusqu'à l'été", "fr")
    assert "l" not in terms and "d" not in terms
    assert terms.count(analyze("armée", "fr")[0]) == 2
    assert all(t.isascii() for t in terms)
    assert "et" not in terms and "les" not in terms


def test_grouped_numbers_become_one_term():
    assert analyze("2 500 soldats", "fr")[0] == analyze("2.500", "fr")[0] == analyze("2500", "fr")[0] == "2500"


def test_english_is_stemmed_as_english():
    assert analyze("soldiers", "en") == analyze("soldier", "en")


def test_language_detection_among_candidates():
    assert detect_language("How many US soldiers are in Iraq?") == "en"
    assert detect_language("Combien de soldats américains sont en Irak ?") == "fr"
    assert detect_language("", default="fr") == "fr"


def test_dates_cover_their_precision():
    assert date_bounds("2024") == (20240101, 20241231)
    assert date_bounds("2024-02") == (20240201, 20240229)
    assert date_bounds("2024-03-05") == (20240305, 20240305)
    for bad in ("2024-13", "2024-02-30", "24-01", "hier"):
        try:
            date_bounds(bad, "date_from")
        except InvalidInputError as exc:
            assert exc.field == "date_from" and bad in str(exc)
        else:
            raise AssertionError(bad)
