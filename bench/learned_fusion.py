"""Learned fusion: a linear ranker per query language over the features the searcher computes per
candidate, fitted on half A of PIAF dev (by article) and measured on half B, which it never saw.

    python bench/learned_fusion.py [--index-dir data/bench/piaf] [--features data/bench/fusion-features.npz] [--no-write]

Questions: every PIAF dev question in French (2,025) and the 240 translated to English by hand
(bench/data/piaf_dev_en.json), over all PIAF paragraphs; halves A / B are bench/crosslingual_eval.py's
split (`piaf_split`, by article), the same for both languages. Candidates are the hybrid search's (the
union of the dense and the BM25+ top 100, as `Searcher.rank`), with per candidate: the shipped fused
score, passage cosine, best-sentence cosine and its lead over the second-best sentence, the dense score
raw and min-max normalized, BM25+ raw and normalized and whether positive, reciprocal ranks in the dense
and lexical lists, share of the query's own terms and of its bridge terms the passage holds, language
match, passage position in its document. The features are computed once
and kept in --features (data/, git-ignored).

Rankers, one per query language, each fitted on half A and measured on both halves:
- corrections to the shipped fusion: the shipped fused score plus a linear term in the standardized
  features, fitted by a softmax over each question's candidates (the answer's passages the positives),
  L2 penalty on the correction chosen by 4-fold cross-validation on half A (folds by article);
- a free linear ranker over the shipped top 20 (the same softmax, no prior);
- pointwise gradient-boosted trees (scikit-learn), the nonlinear check;
- and, as a reference and not a held-out figure, the free linear ranker fitted on half B itself.
Metrics are `semsearch eval`'s on document rankings (R@1, MRR@10, R@10; one relevant paragraph per
question); the shipped fusion's rows reproduce bench/crosslingual_eval.py's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PIAF, ROOT, markdown_table, piaf_missing, publish  # noqa: E402
from crosslingual_eval import PrecomputedQueries, piaf_split  # noqa: E402

from semsearch.search.fusion import FusionConfig, fuse, sentence_weights  # noqa: E402

DATA = ROOT / "bench" / "data"
FEATURES = (
    "fused", "passage_cos", "sentence_cos", "dense", "dense_norm", "bm25", "bm25_norm", "bm25_positive",
    "dense_rrank", "lexical_rrank", "own_terms", "bridge_terms", "same_language", "position", "sentence_gap",
)
PENALTIES = (1.0, 10.0, 100.0, 1000.0)  # on corrections in units of the fused score (0-1)
METRICS = ("recall@1", "mrr@10", "recall@10")


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return np.zeros_like(x) if hi - lo < 1e-9 else (x - lo) / (hi - lo)


def _rrank(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    return 1.0 / ranks


def candidate_features(searcher, query: str, config: FusionConfig) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the hybrid search's candidates and their features (FEATURES), as Searcher.rank computes them."""
    from semsearch.search.searcher import query_language, query_terms
    from semsearch.text.analyzer import analyze

    reader = searcher.reader
    n = min(reader.size, searcher.candidates)
    query_lang = query_language(query, reader.summary.languages)
    own = set(analyze(query, query_lang))
    terms = query_terms(query, query_lang, reader.summary.languages, config.bridge_terms)
    bridge = set(terms) - own
    lexical = reader.lexical_scores(terms)
    lexical_top = searcher.top_rows(lexical, n, None, positive=True)
    qvec = searcher.cache.get(searcher.embedder, query)
    rows = np.union1d(searcher._dense_top(qvec, n, None), lexical_top)
    sentence_scores, best = searcher._sentence_scores(rows, qvec)
    same = reader.rows.lang[rows] == searcher._lang_code(query_lang)
    w = sentence_weights(config, same)
    passage = np.asarray(reader.vectors[rows] @ qvec, dtype=np.float64)
    dense = (1 - w) * passage + w * best
    bm25 = np.asarray(lexical[rows], dtype=np.float64)
    fused = fuse(dense, bm25, config, same)
    held = [frozenset().union(*sentences) for sentences in searcher.sentence_terms.of_rows(rows, {})]
    own_share = np.array([len(own & h) / max(len(own), 1) for h in held])
    bridge_share = np.array([len(bridge & h) / max(len(bridge), 1) for h in held])
    doc = reader.rows.doc_index[rows]
    first = {}
    for r, d in zip(rows.tolist(), doc.tolist()):  # rows are in passage order within a document
        first.setdefault(d, r)
    position = np.array([r - first[d] for r, d in zip(rows.tolist(), doc.tolist())], dtype=np.float64)
    second = np.array([np.sort(s)[-2] if len(s) > 1 else s.max() for s in sentence_scores])
    columns = {
        "fused": fused, "passage_cos": passage, "sentence_cos": best, "dense": dense, "dense_norm": _minmax(dense),
        "bm25": bm25, "bm25_norm": _minmax(bm25), "bm25_positive": (bm25 > 0).astype(float),
        "dense_rrank": _rrank(dense), "lexical_rrank": np.where(bm25 > 0, _rrank(bm25), 0.0),
        "own_terms": own_share, "bridge_terms": bridge_share, "same_language": same.astype(float),
        "position": np.minimum(position, 5.0), "sentence_gap": best - second,
    }
    return rows, np.stack([columns[f] for f in FEATURES], axis=1)


def questions(dataset) -> list[tuple[str, str, str, str]]:
    """(question id, language, text, half) for all PIAF dev in French and the translated sample in English."""
    english = {q["id"]: q["en"] for q in json.loads((DATA / "piaf_dev_en.json").read_text())["questions"]}
    out = [(q, "fr", text, piaf_split(next(iter(dataset.qrels[q])))) for q, text in dataset.queries.items()]
    out += [(q, "en", text, piaf_split(next(iter(dataset.qrels[q])))) for q, text in english.items()]
    return out


def extract(args, config: FusionConfig) -> dict:
    """Features of every question's candidates, computed once and kept in args.features."""
    path = Path(args.features)
    key = hashlib.sha1((json.dumps(FEATURES) + repr(config) + (DATA / "piaf_dev_en.json").read_text()).encode()).hexdigest()
    if path.exists():
        stored = np.load(path, allow_pickle=False)
        if str(stored["key"]) == key:
            return {name: stored[name] for name in stored.files}
    from _perf import ensure_piaf_index

    from semsearch.embedding import load_embedder
    from semsearch.evaluation.datasets import load_eval_set
    from semsearch.search.searcher import QueryVectorCache, Searcher
    from semsearch.settings import Settings
    from semsearch.store.reader import open_index

    embedder = load_embedder(Settings().model)
    dataset = load_eval_set(PIAF)
    index_dir, _ = ensure_piaf_index(Path(args.index_dir), PIAF, embedder)
    asked = questions(dataset)
    queries = PrecomputedQueries(embedder, [text for _, _, text, _ in asked], Path(args.index_dir).parent / "crosslingual-questions.npz")
    searcher = Searcher(open_index(index_dir), queries, fusion=config, cache=QueryVectorCache(8192))
    doc_ids = searcher.reader.rows.doc_ids
    qid, lang, half, article, offsets, features, label, doc = [], [], [], [], [0], [], [], []
    for i, (q, language, text, h) in enumerate(asked):
        rows, x = candidate_features(searcher, text, config)
        relevant = set(dataset.qrels[q])
        docs = searcher.reader.rows.doc_index[rows]
        qid.append(q), lang.append(language), half.append(h), article.append(next(iter(relevant)).split("-")[0])
        features.append(x)
        label.append(np.array([doc_ids[int(d)] in relevant for d in docs]))
        doc.append(docs.astype(np.int64))
        offsets.append(offsets[-1] + len(rows))
        if i % 250 == 0:
            print(f"features: {i} / {len(asked)} questions", file=sys.stderr, flush=True)
    out = {
        "key": np.array(key), "qid": np.array(qid), "lang": np.array(lang), "half": np.array(half), "article": np.array(article),
        "offsets": np.array(offsets), "x": np.concatenate(features), "y": np.concatenate(label), "doc": np.concatenate(doc),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


class Questions:
    """A set of questions' candidates: features, labels and document of each candidate."""

    def __init__(self, data: dict, keep: np.ndarray) -> None:
        offsets = data["offsets"]
        self.slices = [slice(offsets[i], offsets[i + 1]) for i in np.flatnonzero(keep)]
        self.x = [data["x"][s] for s in self.slices]
        self.y = [data["y"][s] for s in self.slices]
        self.doc = [data["doc"][s] for s in self.slices]
        self.article = [str(a) for a in data["article"][keep]]

    def __len__(self) -> int:
        return len(self.slices)

    def subset(self, keep: list[int]) -> Questions:
        other = object.__new__(Questions)
        other.x, other.y, other.doc = [self.x[i] for i in keep], [self.y[i] for i in keep], [self.doc[i] for i in keep]
        other.slices, other.article = [self.slices[i] for i in keep], [self.article[i] for i in keep]
        return other


def metrics(scores: list[np.ndarray], qs: Questions) -> dict[str, float]:
    """R@1, MRR@10, R@10 of the document rankings (documents in the order of their best passage)."""
    r1 = rr = r10 = 0.0
    for s, y, doc in zip(scores, qs.y, qs.doc):
        order = np.argsort(-s, kind="stable")
        seen: list[int] = []
        hit = None
        for i in order:
            d = int(doc[i])
            if d in seen:
                continue
            seen.append(d)
            if y[i]:
                hit = len(seen)
                break
            if len(seen) == 10:
                break
        if hit is not None:
            r1 += hit == 1
            rr += 1.0 / hit
            r10 += 1
    n = max(len(qs), 1)
    return {"recall@1": r1 / n, "mrr@10": rr / n, "recall@10": r10 / n}


class LinearRanker:
    """score = prior x fused + (x - mean) / std . w (prior 1: corrections on top of the shipped fusion, 0: free)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, w: np.ndarray, prior: float) -> None:
        self.mean, self.std, self.w, self.prior = mean, std, w, prior

    def scores(self, qs: Questions) -> list[np.ndarray]:
        return [self.prior * x[:, 0] + ((x - self.mean) / self.std) @ self.w for x in qs.x]

    def raw(self) -> np.ndarray:
        """Weights on the raw features, scaled so that the fused score's is 1 when it is positive
        (a question's scores may be shifted and scaled without changing its ranking)."""
        w = self.w / self.std
        w[0] += self.prior
        return w / w[0] if w[0] > 0 else w


def fit(qs: Questions, penalty: float, prior: bool = True, top: int | None = None) -> LinearRanker:
    """Softmax over each question's candidates (its top `top` by the shipped fusion, or all), the answer's
    passages the positives; L2 `penalty` on the weights of the standardized features. With `prior`, the
    shipped fused score is kept at weight 1 (at a sharp temperature) and the weights are corrections to it."""
    from scipy.optimize import minimize

    stacked = np.concatenate(qs.x)
    mean, std = stacked.mean(axis=0), stacked.std(axis=0) + 1e-9
    scale = 20.0 if prior else 1.0  # the shipped fused score spans 0-1: x20 makes its softmax as sharp as its ranking
    usable = []
    for x, y in zip(qs.x, qs.y):
        keep = np.argsort(-x[:, 0], kind="stable")[:top] if top else slice(None)
        if y[keep].any():
            usable.append(((x[keep] - mean) / std, x[keep, 0] if prior else np.zeros(len(y[keep])), y[keep]))

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.5 * penalty * w @ w, penalty * w
        for z, base, y in usable:
            s = scale * (base + z @ w)
            p = np.exp(s - s.max())
            p /= p.sum()
            pos = p[y].sum()
            total -= np.log(pos + 1e-300)
            grad = grad + scale * (z.T @ (p - np.where(y, p / max(pos, 1e-300), 0.0)))
        return total / len(usable), grad / len(usable)

    result = minimize(loss, np.zeros(stacked.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 300})
    return LinearRanker(mean, std, result.x, 1.0 if prior else 0.0)


def folds(qs: Questions, k: int = 4) -> list[list[int]]:
    """Question positions in k folds by article."""
    out: list[list[int]] = [[] for _ in range(k)]
    for i, article in enumerate(qs.article):
        out[hashlib.sha1(article.encode()).digest()[1] % k].append(i)
    return out


def choose_penalty(qs: Questions) -> tuple[float, list[tuple[float, float]]]:
    """The penalty of best mean cross-validated MRR@10 on `qs` (folds by article), with each penalty's."""
    parts = folds(qs)
    tried = []
    for penalty in PENALTIES:
        total = 0.0
        for f in range(len(parts)):
            train = qs.subset([i for g, part in enumerate(parts) if g != f for i in part])
            test = qs.subset(parts[f])
            total += metrics(fit(train, penalty).scores(test), test)["mrr@10"] * len(test)
        tried.append((penalty, total / len(qs)))
        print(f"penalty {penalty}: cross-validated MRR@10 {tried[-1][1]:.4f}", file=sys.stderr, flush=True)
    return max(tried, key=lambda t: (t[1], t[0]))[0], tried


def boosted_trees(train: Questions):
    """Pointwise gradient-boosted trees (scikit-learn), the nonlinear check: P(answer) per candidate."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0, random_state=0)
    model.fit(np.concatenate(train.x), np.concatenate(train.y))
    return lambda qs: [model.predict_proba(x)[:, 1] for x in qs.x]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", default="data/bench/piaf")
    parser.add_argument("--features", default="data/bench/fusion-features.npz")
    parser.add_argument("--no-write", action="store_true", help="print, do not write to BENCHMARKS.md")
    args = parser.parse_args()
    if piaf_missing():
        return 0
    from semsearch.settings import Settings

    data = extract(args, Settings().fusion_config())

    def half(lang: str, h: str) -> Questions:
        return Questions(data, (data["lang"] == lang) & (data["half"] == h))

    rows, weights, penalties, results = [], [], [], {}
    for lang in ("fr", "en"):
        train, test = half(lang, "A"), half(lang, "B")
        penalty, tried = choose_penalty(train)
        shipped = metrics([x[:, 0] for x in train.x], train)["mrr@10"]
        penalties.append([lang, *[f"{m:.4f}" for _, m in tried], f"{shipped:.4f}", penalty])
        corrections, free = fit(train, penalty), fit(train, 0.1, prior=False, top=20)
        reference = fit(test, 0.01, prior=False, top=20)
        weights += [[lang, name, *[f"{v:+.3f}" for v in model.raw()]] for name, model in
                    (("corrections to the shipped fusion", corrections), ("free, top 20", free))]
        rankers = [
            ("shipped fusion", lambda qs: [x[:, 0] for x in qs.x], ("A", "B")),
            ("learned: corrections to the shipped fusion (L2 cross-validated on A)", corrections.scores, ("A", "B")),
            ("learned: free linear, shipped top 20, L2 0.1", free.scores, ("A", "B")),
            ("learned: gradient-boosted trees, pointwise (nonlinear)", boosted_trees(train), ("A", "B")),
            ("reference: free linear fitted on half B itself (in-sample)", reference.scores, ("B",)),
        ]
        for name, scores, halves in rankers:
            for h in halves:
                qs = half(lang, h)
                m = results[(lang, h, name)] = metrics(scores(qs), qs)
                label = f"{lang} {h} ({'fitted on' if h == 'A' else 'held out'}, {len(qs)})"
                rows.append([label, name, *[f"{m[k]:.4f}" for k in METRICS]])
                print(rows[-1], file=sys.stderr, flush=True)
    for name in dict.fromkeys(key[2] for key in results if key[1] == "B"):
        if ("en", "B", name) in results:
            en, fr = results[("en", "B", name)], results[("fr", "B", name)]
            rows.append(["B: en / fr", name, *[f"{en[k] / max(fr[k], 1e-9):.3f}x" for k in METRICS]])
    body = (
        "Questions: all 2,025 PIAF dev questions in French, the 240 translated ones in English; halves by article "
        "(bench/crosslingual_eval.py's split). Each model is fitted per query language on half A; half B is held out "
        "(except the reference row, fitted on half B itself: what fitting the very questions measured gains, in-sample).\n\n"
        + markdown_table(["questions", "ranking", "R@1", "MRR@10", "R@10"], rows)
        + "\n\nPenalty of the corrections by 4-fold cross-validation on half A, folds by article (MRR@10):\n\n"
        + markdown_table(["language", *[f"L2 {p:g}" for p in PENALTIES], "no correction (shipped)", "chosen"], penalties)
        + "\n\nWeights on the raw features, fitted on half A (scaled to the fused score's weight 1):\n\n"
        + markdown_table(["language", "model", *FEATURES], weights)
    )
    publish("Learned fusion, fitted on half A, held out on half B", body, args.no_write, part="## Search quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
