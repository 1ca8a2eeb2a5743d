"""Stories: articles placed as they are written (a real server over the seeds, the real model), and the
incremental clustering itself on small made-up vectors."""

from __future__ import annotations

import numpy as np

from semsearch.stories.cluster import StoryClusterer, StoryConfig

from .service_helpers import AUTH, SEED_IDS

QUESTION = "la fin de la coalition en Irak"
FESTIVAL = {
    "id": "desk/festival.txt",
    "lang": "en",
    "date": "2024-03-02",
    "source": "AFP",
    "text": "The Timbuktu desert music festival drew 12,000 spectators despite a sandstorm, and its organisers promised "
    "a longer edition next year, with concerts on the dunes at sunset and a new stage for Tuareg guitar bands.",
}


def _unit(*values: float) -> np.ndarray:
    v = np.array(values, np.float32)
    return v / np.linalg.norm(v)


def test_an_article_joins_the_closest_story_above_the_floor_else_starts_one():
    clusterer = StoryClusterer(StoryConfig(join_floor=0.9, merge_floor=0.99))
    a = clusterer.place(_unit(1, 0, 0))
    assert clusterer.place(_unit(1, 0.1, 0)) == a
    b = clusterer.place(_unit(0, 1, 0))
    assert b != a and clusterer.stories[a].size == 2 and clusterer.stories[b].size == 1


def test_stories_that_converge_merge_into_the_larger_one():
    clusterer = StoryClusterer(StoryConfig(join_floor=0.9, merge_floor=0.85))
    a = clusterer.place(_unit(1, 0, 0))
    clusterer.place(_unit(1, 0.05, 0))
    b = clusterer.place(_unit(0.8, 0.6, 0))  # cosine 0.8 to story a: a story of its own
    assert b != a
    into = clusterer.place(_unit(0.95, 0.3, 0))  # joins a (0.96), whose centroid comes within 0.85 of b
    assert into == a and clusterer.resolve(b) == a and clusterer.merges == [(b, a)]
    assert clusterer.stories[a].size == 4


def test_a_replaced_version_leaves_its_story():
    clusterer = StoryClusterer(StoryConfig(join_floor=0.9))
    v = _unit(1, 0, 0)
    a = clusterer.place(v)
    clusterer.remove(a, v)
    assert clusterer.stories[a].size == 0
    assert clusterer.place(_unit(0, 1, 0)) != a  # an empty story takes no one


def _search(server, **params) -> dict:
    response = server.client.get("/search", params={"q": QUESTION, "k": 10, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_five_seed_articles_form_one_story_with_a_timeline(annotated_server):
    body = _search(annotated_server, facets="story")
    stories = {r["story"] for r in body["results"]}
    assert len(stories) == 1 and None not in stories
    (story,) = stories
    assert [f["value"] for f in body["facets"]["story"]] == [str(story)] and body["facets"]["story"][0]["label"]
    timeline = annotated_server.client.get(f"/stories/{story}")
    assert timeline.status_code == 200, timeline.text
    data = timeline.json()
    assert {a["doc_id"] for a in data["articles"]} == SEED_IDS
    dates = [a["date"] for a in data["articles"]]
    dated = [d for d in dates if d]
    assert dated == sorted(dated) and dates[: len(dated)] == dated  # oldest first, undated last
    assert all(a["sentence"] for a in data["articles"]) and data["first_seen"] <= data["last_updated"]
    assert _search(annotated_server, story=story)["total"] == body["total"]


def test_an_unrelated_article_starts_its_own_story_which_goes_with_it(annotated_server):
    client = annotated_server.client
    seeds_story = _search(annotated_server)["results"][0]["story"]
    assert client.post("/documents", json={"documents": [FESTIVAL]}, headers=AUTH).status_code == 200
    try:
        hits = client.get("/search", params={"q": "Timbuktu music festival", "k": 1}).json()["results"]
        assert hits[0]["doc_id"] == FESTIVAL["id"] and hits[0]["story"] not in (None, seeds_story)
        story = hits[0]["story"]
        assert [a["doc_id"] for a in client.get(f"/stories/{story}").json()["articles"]] == [FESTIVAL["id"]]
    finally:
        assert client.delete(f"/documents/{FESTIVAL['id']}", headers=AUTH).status_code == 200
    gone = client.get(f"/stories/{story}")
    assert gone.status_code == 404 and gone.json()["error"]["field"] == "story_id"


def test_unknown_and_malformed_story_ids_are_named(annotated_server):
    for path, status in (("/stories/999999", 404), ("/stories/0", 422), ("/stories/abc", 422), ("/stories/99999999999999999999999", 422)):
        response = annotated_server.client.get(path)
        assert response.status_code == status and response.json()["error"]["field"] == "story_id", (path, response.text)
