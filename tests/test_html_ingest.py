"""Web pages in: a saved French news page indexed with its metadata and without its clutter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semsearch.errors import InvalidInputError
from semsearch.ingest.html import NoArticleError, extract_article
from semsearch.ingest.readers import document_from_record, read_paths

from .conftest import run_cli
from .service_helpers import AUTH, client_for, server_errors
from .web_site import serve_site, stored_documents

DATA = Path(__file__).parent / "data"
PAGE = DATA / "article_fr.html"
# Text of the page's menu, cookie banner, share bars, "lire aussi" links, ad, newsletter box,
# comments and footer: none of it is article text.
CLUTTER = [
    "Accueil",
    "Se connecter",
    "S'abonner",
    "cookies",
    "Accepter et fermer",
    "Partager sur Facebook",
    "Envoyer par e-mail",
    "Copier le lien",
    "Lire aussi",
    "Le métro automatique de Marseille encore retardé",
    "À lire aussi",
    "Les bus de nuit reviennent",
    "Vélos en libre-service",
    "prix des carburants",
    "Publicité",
    "newsletter",
    "Je m'inscris",
    "Réactions",
    "Marcel13",
    "Encore des promesses avant les élections",
    "pourvu que les travaux ne durent pas dix ans",
    "stationnement pendant le chantier",
    "Connectez-vous pour réagir",
    "Mentions légales",
    "Politique de confidentialité",
    "Toute reproduction interdite",
    "Photo Jean Roux",
]


def test_french_news_page_is_indexed_with_title_date_and_outlet_and_none_of_its_clutter(tmp_path):
    index_dir = tmp_path / "index"
    report = json.loads(run_cli("index", str(PAGE), "--index-dir", str(index_dir), "--json", "--quiet").stdout)
    assert report["added"] == 1 and report["failed"] == []
    assert report["authors"] == {"article_fr.html": "Claire Fabre"}  # extracted and reported; the index has no author column

    (doc,) = stored_documents(index_dir).values()
    passages = doc["passages"]
    assert doc["title"] == "À Marseille, le tramway prolongé vers le nord et le sud d'ici à 2026"
    assert doc["date"] == "2024-03-12"  # article:published_time / JSON-LD datePublished, not the modified time
    assert doc["source"] == "Le Courrier du Midi"
    assert doc["url"] == "https://www.courrierdumidi.example/marseille/2024/03/12/tramway-prolonge_4821.html"
    assert doc["lang"] == "fr"
    assert passages and passages[0].startswith("Le conseil de la métropole Aix-Marseille-Provence a adopté lundi soir")
    assert any("Les commerçants de l'avenue de Saint-Antoine" in p for p in passages)  # the last paragraph too
    for passage in passages:
        for clutter in CLUTTER:
            assert clutter.casefold() not in passage.casefold(), f"{clutter!r} indexed in {passage!r}"

    found = run_cli("search", "Combien coûte le prolongement du tramway à Marseille ?", "--index-dir", str(index_dir), "--json", "-k", "1")
    (hit,) = json.loads(found.stdout)["results"]
    assert (hit["doc_id"], hit["date"], hit["source"]) == ("article_fr.html", "2024-03-12", "Le Courrier du Midi")


def test_a_folder_indexes_its_html_pages_and_reports_a_page_without_article(tmp_path):
    (tmp_path / "2024").mkdir()
    (tmp_path / "2024" / "tram.htm").write_bytes(PAGE.read_bytes())
    (tmp_path / "home.html").write_text(
        "<html><head><title>Accueil</title></head><body><nav><a href='/'>Accueil</a> <a href='/sport'>Sport</a>"
        " <a href='/culture'>Culture</a></nav><footer>© 2024</footer></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "empty.html").write_bytes(b"")
    batch = read_paths([tmp_path])
    assert [d.doc_id for d in batch.documents] == ["2024/tram.htm"]
    reasons = {Path(p.origin).name: p.reason for p in batch.problems}
    assert reasons["home.html"].startswith("no article text found in the page")
    assert reasons["empty.html"] == "empty file"


def test_jsonl_record_and_request_document_may_carry_html_instead_of_text():
    html = PAGE.read_text(encoding="utf-8")
    doc = document_from_record({"id": "tram", "html": html, "source": "CDM"}, "line 1")
    assert doc.title == "À Marseille, le tramway prolongé vers le nord et le sud d'ici à 2026"
    assert doc.date == "2024-03-12"
    assert doc.source == "CDM"  # the record's own fields win over the page's metadata
    assert "Lire aussi" not in doc.text and "Marcel13" not in doc.text

    with pytest.raises(InvalidInputError, match="not both"):
        document_from_record({"id": "x", "html": html, "text": "du texte"}, "line 2")
    with pytest.raises(InvalidInputError, match="html: must be a non-empty string"):
        document_from_record({"id": "x", "html": 42}, "line 3")
    with pytest.raises(InvalidInputError, match="no article text") as caught:
        document_from_record({"id": "x", "html": "<html><body><nav>Accueil</nav></body></html>"}, "line 4")
    assert caught.value.field == "html"


def test_page_dates_come_from_markup_and_url_never_from_a_copyright_line():
    body = (
        "<article><h1>Le maire de Lyon inaugure une passerelle</h1><p>Le maire de Lyon a inauguré samedi une nouvelle"
        " passerelle piétonne au-dessus du Rhône, attendue depuis dix ans par les habitants.</p></article>"
        "<footer>© 2023 Lyon Info</footer>"
    )
    page = f"<html><head><title>Le maire de Lyon inaugure une passerelle</title></head><body>{body}</body></html>"
    assert extract_article(page).date is None
    assert extract_article(page, "https://lyon.example/2022/05/04/passerelle.html").date == "2022-05-04"
    article = extract_article(page)
    assert article.text.startswith("Le maire de Lyon a inauguré samedi")  # the headline is the title, not a paragraph
    with pytest.raises(NoArticleError):
        extract_article(b"\x00\x01\x02 binary")


def test_post_documents_accepts_html_extracted_server_side_and_never_fetches_its_url(seed_index, embedder):
    page = PAGE.read_text(encoding="utf-8")
    with serve_site() as site, client_for(seed_index, embedder) as client:
        site.put("/tram.html", "text/html", b"<html><body><p>The page as the server would have it.</p></body></html>")
        documents = [
            {"id": "web/tram", "html": page, "url": f"{site.base}/tram.html"},
            {"id": "web/menu", "html": "<html><body><nav><a href='/'>Accueil</a></nav></body></html>"},
            {"id": "web/both", "html": page, "text": "Du texte aussi."},
        ]
        response = client.post("/documents", json={"documents": documents}, headers=AUTH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["added"] == 1
        assert [(f["index"], f["id"], f["field"]) for f in body["failed"]] == [(1, "web/menu", "html"), (2, "web/both", "html")]
        assert body["failed"][0]["reason"].startswith("html: no article text found in the page")

        stored = client.get("/documents/web/tram").json()
        assert stored["title"] == "À Marseille, le tramway prolongé vers le nord et le sud d'ici à 2026"
        assert (stored["date"], stored["source"], stored["url"]) == ("2024-03-12", "Le Courrier du Midi", f"{site.base}/tram.html")
        assert stored["text"].startswith("Le conseil de la métropole")
        assert "Marcel13" not in stored["text"] and "Lire aussi" not in stored["text"]
        assert site.full == {} and site.user_agents == set()  # the URL it names was never requested

        alone = client.post("/documents", json={"documents": [{"id": "web/url-only", "url": f"{site.base}/tram.html"}]}, headers=AUTH)
        assert alone.status_code == 422 and alone.json()["error"]["field"] == "documents.0.text"
        assert site.user_agents == set()
        assert server_errors(client) == []


@pytest.mark.parametrize(
    ("depth", "wrapper"),
    [(300, "div class=w"), (5_000, "div class=w"), (300, "table><tr><td"), (300, "blockquote"), (3_000, "ul><li"), (300, "section><a href=#x")],
)
def test_a_page_nested_past_the_parsers_depth_limit_keeps_its_article(depth, wrapper):
    paragraphs = [
        "Le conseil municipal de Marseille a voté mardi soir le budget des écoles pour l'année 2024.",
        "Les travaux commenceront en septembre dans douze écoles du centre-ville, selon la mairie.",
    ]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    tags = wrapper.split("><")
    opening = "".join(f"<{t}>" for t in tags) * depth
    closing = "".join(f"</{t.split()[0]}>" for t in reversed(tags)) * depth
    page = f"<html><head><title>Budget</title></head><body>{opening}<article>{body}</article>{closing}</body></html>"
    article = extract_article(page)
    assert article.text.split("\n\n") == paragraphs
