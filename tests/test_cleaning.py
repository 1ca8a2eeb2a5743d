from semsearch.ingest.clean import clean_article
from semsearch.ingest.readers import read_paths

from .conftest import SEEDS


def test_date_marker_glued_to_first_paragraph_becomes_the_date():
    article = clean_article(" date 2024-01 Le gouvernement irakien va former un comité.\n\nDeuxième paragraphe ici.")
    assert article.date == "2024-01"
    assert article.text.startswith("Le gouvernement irakien")


def test_repeated_title_line_is_kept_once_as_title():
    raw = "L’Irak annonce la fin de la mission\n\nL'Irak annonce la fin de la mission\n\n \n\nLe gouvernement a annoncé jeudi la fin."
    article = clean_article(raw)
    assert article.title == "L’Irak annonce la fin de la mission"
    assert article.text == "Le gouvernement a annoncé jeudi la fin."


def test_boilerplate_lines_are_dropped_and_agency_tag_becomes_source():
    raw = (
        "Premier paragraphe qui raconte quelque chose d'important.\n\n(AP Photo/Nasser Nasser, File)\n\n"
        "Second paragraphe.\n\nAA\n\nTRT FR\n\nPartager cet article? https://turquie2023.com/Ivo58D"
    )
    article = clean_article(raw)
    assert article.text == "Premier paragraphe qui raconte quelque chose d'important.\n\nSecond paragraphe."
    assert article.source == "TRT FR"
    assert "(AP Photo/Nasser Nasser, File)" in article.removed


def test_every_seed_is_read_with_language_date_and_title():
    batch = read_paths([SEEDS])
    assert not batch.problems
    assert [d.doc_id for d in batch.documents] == sorted(p.name for p in SEEDS.iterdir())
    dates = {d.doc_id[:3]: d.date for d in batch.documents}
    assert dates == {"000": "2024-01", "001": "2024-01", "002": None, "003": None, "004": "2024-03"}
    assert all(d.title for d in batch.documents)
