"""Searches keep running, each on one consistent commit, while documents are added, updated and deleted."""

from __future__ import annotations

import threading
import time
from collections import Counter

from .conftest import SEEDS
from .service_helpers import AUTH, SEED_IDS, client_for, server_errors

ROUNDS = 4
SEARCH_THREADS = 2  # over HTTP; as many again call the service's Searcher directly
OBSERVE_TIMEOUT_S = 60
TOKEN = "zygomorphe"  # a word no seed contains: a lexical search for it finds only the added documents
UPDATED_SEED = "004_d2c93f48316b947f.txt"
QUERIES = [
    (TOKEN, "lexical"),
    ("Combien de soldats américains sont en Irak ?", "hybrid"),
    ("How many US soldiers are in Iraq?", "dense"),
    (f"papillon {TOKEN} observé au jardin", "hybrid"),
]


def added(i: int) -> dict:
    return {
        "id": f"live/round-{i}.txt",
        "title": f"Observation numéro {i}",
        "date": "2024-04",
        "text": f"Un papillon {TOKEN} a été observé pour la {i + 1}e fois au jardin botanique de Bagdad. "
        "Les naturalistes de l'université comptent publier leurs relevés avant la fin de la saison.",
    }


def test_searches_see_one_commit_and_never_a_gone_document_while_writes_go_on(seed_index, embedder):
    seed_text = (SEEDS / UPDATED_SEED).read_text()
    all_added = {added(i)["id"] for i in range(ROUNDS)}
    with client_for(seed_index, embedder) as client:
        service = client.app.state.service
        lock = threading.Lock()
        add_acked: dict[str, float] = {}
        delete_started: dict[str, float] = {}
        delete_acked: dict[str, float] = {}
        observed = {doc_id: threading.Event() for doc_id in all_added}
        errors: list[str] = []
        counts: Counter[str] = Counter()
        stop = threading.Event()

        def http_searcher(n: int) -> None:
            i = n
            while not stop.is_set():
                query, mode = QUERIES[i % len(QUERIES)]
                i += 1
                sent = time.monotonic()
                response = client.get("/search", params={"q": query, "mode": mode, "k": 10})
                received = time.monotonic()
                if response.status_code != 200:
                    errors.append(f"search {query!r}: {response.status_code} {response.text[:200]}")
                    continue
                ids = [hit["doc_id"] for hit in response.json()["results"]]
                with lock:
                    adds, deletes_started, deletes = dict(add_acked), dict(delete_started), dict(delete_acked)
                for doc_id in ids:
                    if doc_id not in SEED_IDS and doc_id not in all_added:
                        errors.append(f"unknown document {doc_id!r}")
                    if doc_id in deletes and deletes[doc_id] < sent:
                        errors.append(f"{doc_id!r} returned by a search sent after its deletion was acknowledged")
                if query == TOKEN:
                    for doc_id, acked in adds.items():
                        # Sent after the add was acknowledged, answered before the delete began:
                        # the search must have run on a commit holding the document.
                        if acked < sent and (doc_id not in deletes_started or received < deletes_started[doc_id]):
                            if doc_id in ids:
                                observed[doc_id].set()
                            else:
                                errors.append(f"{doc_id!r} missing from a search sent after it was acknowledged")
                counts["http"] += 1

        def direct_searcher(n: int) -> None:
            i = n
            while not stop.is_set():
                query, mode = QUERIES[i % len(QUERIES)]
                i += 1
                searcher = service.searcher  # what a request does: one Searcher, one commit
                result = searcher.search(query, k=10, mode=mode)
                for hit in result.results:
                    found = searcher.reader.fetch_document(hit.doc_id)
                    if found is None:
                        errors.append(f"{hit.passage_id}: its document is not in the commit that returned it")
                        continue
                    doc, passages = found
                    same = [p for p in passages if p.passage_id == hit.passage_id]
                    if not same or same[0].text != hit.text or doc.text[hit.start:hit.end] != hit.text:
                        errors.append(f"{hit.passage_id}: text differs from its commit's document")
                counts["direct"] += 1

        def writer() -> None:
            for i in range(ROUNDS):
                doc = added(i)
                updated_seed = {"id": UPDATED_SEED, "text": seed_text + f"\n\nMise à jour numéro {i} de cette dépêche."}
                response = client.post("/documents", json={"documents": [doc, updated_seed]}, headers=AUTH)
                if response.status_code != 200 or response.json()["added"] != 1 or response.json()["updated"] != 1:
                    errors.append(f"add round {i}: {response.status_code} {response.text[:300]}")
                    return
                with lock:
                    add_acked[doc["id"]] = time.monotonic()
                if not observed[doc["id"]].wait(OBSERVE_TIMEOUT_S):
                    errors.append(f"round {i}: no search observed {doc['id']!r}")
                with lock:
                    delete_started[doc["id"]] = time.monotonic()
                response = client.delete(f"/documents/{doc['id']}", headers=AUTH)
                if response.status_code != 200:
                    errors.append(f"delete round {i}: {response.status_code} {response.text[:300]}")
                    return
                with lock:
                    delete_acked[doc["id"]] = time.monotonic()
                counts["rounds"] += 1

        def guarded(target, *args):
            def run():
                try:
                    target(*args)
                except Exception as exc:  # a thread must not die silently
                    errors.append(f"{target.__name__}: {exc!r}")
                    stop.set()

            return threading.Thread(target=run, daemon=True)

        searchers = [guarded(http_searcher, n) for n in range(SEARCH_THREADS)]
        searchers += [guarded(direct_searcher, n) for n in range(SEARCH_THREADS)]
        for thread in searchers:
            thread.start()
        write_thread = guarded(writer)
        write_thread.start()
        write_thread.join(ROUNDS * (OBSERVE_TIMEOUT_S + 60))
        stop.set()
        for thread in searchers:
            thread.join(60)

        assert not write_thread.is_alive() and not any(t.is_alive() for t in searchers)
        assert errors == []
        assert counts["rounds"] == ROUNDS
        assert all(event.is_set() for event in observed.values())
        assert counts["http"] > ROUNDS and counts["direct"] > ROUNDS
        assert server_errors(client) == []
        stats = client.get("/stats").json()
        assert stats["documents"] == len(SEED_IDS)
        assert client.get("/search", params={"q": TOKEN, "mode": "lexical"}).json()["results"] == []
