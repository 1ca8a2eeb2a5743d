"""`semsearch eval` on a tiny hand-made SQuAD file and BEIR folder, metrics computed by hand."""

from __future__ import annotations

import json
import math

import pytest

from .conftest import run_cli

PARAGRAPHS = [
    ("Tour Eiffel", "La tour Eiffel, construite pour l'Exposition universelle de 1889, mesure 330 mètres et se trouve à Paris."),
    ("Chat", "Le chat domestique dort en moyenne seize heures par jour et chasse surtout la nuit."),
    ("Tour Montparnasse", "La tour Montparnasse, gratte-ciel de Paris achevé en 1973, mesure 210 mètres de haut."),
]
# The third question is judged against the Montparnasse paragraph on purpose, although the
# Eiffel paragraph answers it better: that document ranks second, which MRR must count as 1/2.
QUESTIONS = [
    ("q1", "Combien d'heures dort un chat ?", 1),
    ("q2", "En quelle année la tour Montparnasse a-t-elle été achevée ?", 2),
    ("q3", "Quelle est la hauteur de la tour Eiffel ?", 2),
]
EXPECTED = {
    "recall@1": 2 / 3,
    "recall@5": 1.0,
    "recall@10": 1.0,
    "mrr@10": (1 + 1 + 1 / 2) / 3,
    "ndcg@10": (1 + 1 + 1 / math.log2(3)) / 3,
}


@pytest.fixture
def squad_file(tmp_path):
    data = {"version": "test", "data": []}
    for a, (title, context) in enumerate(PARAGRAPHS):
        qas = [{"id": qid, "question": q, "answers": [{"text": "x", "answer_start": 0}]} for qid, q, target in QUESTIONS if target == a]
        data["data"].append({"title": title, "paragraphs": [{"context": context, "qas": qas}]})
    path = tmp_path / "mini-squad.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    return path


@pytest.fixture
def beir_folder(tmp_path):
    folder = tmp_path / "mini-beir"
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as handle:
        for i, (title, context) in enumerate(PARAGRAPHS):
            handle.write(json.dumps({"_id": f"p{i}", "title": title, "text": context}) + "\n")
    with (folder / "queries.jsonl").open("w") as handle:
        for qid, question, _ in QUESTIONS:
            handle.write(json.dumps({"_id": qid, "text": question}) + "\n")
    rows = ["query-id\tcorpus-id\tscore"] + [f"{qid}\tp{target}\t1" for qid, _, target in QUESTIONS]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return folder


def _check(report: dict) -> None:
    assert report["queries"] == 3 and report["documents"] == 3
    for name, value in EXPECTED.items():
        assert report["metrics"][name] == pytest.approx(value, abs=1e-4), name


def test_eval_on_squad_file_gives_the_metrics_computed_by_hand(squad_file):
    reports = json.loads(run_cli("eval", str(squad_file), "--json").stdout)
    assert [r["mode"] for r in reports] == ["hybrid"]
    _check(reports[0])


def test_eval_on_beir_folder_gives_the_same_metrics(beir_folder):
    reports = json.loads(run_cli("eval", str(beir_folder), "--json", "--mode", "dense").stdout)
    _check(reports[0])


def test_eval_table_lists_every_metric(squad_file):
    out = run_cli("eval", str(squad_file), "--mode", "all").stdout
    for word in ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "dense", "lexical", "hybrid"):
        assert word in out


def test_eval_on_a_missing_or_malformed_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    for path in (bad, tmp_path / "absent.json"):
        proc = run_cli("eval", str(path), check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
