"""Write cost against collection size: one article added to synthetic indexes of growing size.

    python bench/synthetic_index.py --passages 10000 --index-dir data/bench/synthetic-10k     (100k, 1M likewise)
    python bench/write_cost.py --index-dir data/bench/synthetic-10k data/bench/synthetic-100k data/bench/synthetic-1m

For each index, `--writes` times: one article (about 4 passages) written by `semsearch index FILE --json`
in its own process, as a user would, with the real default model: the time beyond the article's own
embedding (the report's `seconds - embed_seconds`) and the process's peak RSS (model included). Then
the storage side alone: the same kind of write in a process with the stand-in embedder of
bench/synthetic_index.py, whose peak RSS is the writer's (Python, numpy, FAISS and the write). Each
article is deleted again afterwards (measured too), so the index ends as it began, one segment and a
few tombstones later; `--optimize` force-merges at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from _common import markdown_table, publish  # noqa: E402
from _perf import load_text  # noqa: E402

ARTICLE = (
    "Le conseil municipal de {city} a adopté mardi soir un budget de {n} millions d'euros pour rénover "
    "ses écoles et construire une médiathèque. Les travaux commenceront au printemps et dureront deux ans.\n\n"
    "L'opposition a dénoncé un endettement trop lourd pour la commune, tandis que la majorité met en avant "
    "les économies d'énergie attendues des nouveaux bâtiments, estimées à un tiers de la facture actuelle.\n\n"
    "La préfecture doit encore valider le plan de financement, qui repose pour moitié sur des subventions "
    "de l'État et de la région. Une réunion publique est prévue le mois prochain à la mairie.\n\n"
    "Les parents d'élèves, consultés à l'automne, ont demandé que la cantine soit agrandie en priorité, "
    "ce que le maire a promis d'étudier avant l'été."
)


_WRAP = (
    "import json, resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
    " sys.stdout.write(p.stdout); sys.stderr.write(p.stderr);"
    " print(json.dumps({'rc': p.returncode, 'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"
)


def _run(cmd: list[str]) -> tuple[dict, float]:
    """A child process's JSON report and its peak RSS in MiB (RUSAGE_CHILDREN of a wrapper whose only child it is)."""
    proc = subprocess.run([sys.executable, "-c", _WRAP, *cmd], capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    wrap = json.loads(lines[-1])
    if wrap["rc"]:
        raise SystemExit(f"{cmd} failed ({wrap['rc']}):\n{proc.stderr[-2000:]}")
    return json.loads("\n".join(lines[:-1])), wrap["rss"] / 1024


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "semsearch.cli", *args]


def child(index_dir: str, doc_id: str, delete: bool) -> int:
    """The storage side alone: one write with the stand-in embedder; prints seconds and peak RSS."""
    import resource

    from synthetic_index import MixtureEmbedder, one_sentence

    from semsearch.documents import Document
    from semsearch.index import chunking, writer

    writer.sentence_spans = one_sentence
    chunking.sentence_spans = one_sentence
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    w = writer.IndexWriter(index_dir, MixtureEmbedder())
    doc = Document(doc_id, ARTICLE.format(city=doc_id, n=len(doc_id)), lang="fr", date="2024-05", source="bench")
    report = w.write(delete_ids=[doc_id]) if delete else w.write([doc])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": report.seconds, "embed_seconds": report.embed_seconds, "passages": report.passages,
                      "rss_before_mib": rss_before, "peak_rss_mib": peak}))
    return 0


def measure(index_dir: Path, writes: int) -> dict:
    info = json.loads(subprocess.run(_cli("info", "--json", "--index-dir", str(index_dir)), capture_output=True, text=True, check=True).stdout)
    rows = {"cli": [], "cli_rss": [], "cli_delete": [], "store": [], "store_rss": [], "store_base": [], "store_delete": []}
    scratch = index_dir.parent / f".write-cost-{os.getpid()}"
    scratch.mkdir(exist_ok=True)
    for i in range(writes):
        doc_id = f"bench-write-{os.getpid()}-{i}"
        article = scratch / f"{doc_id}.jsonl"
        article.write_text(json.dumps({"id": doc_id, "text": ARTICLE.format(city=f"Ville {i}", n=i + 3), "lang": "fr"}) + "\n")
        report, rss = _run(_cli("index", str(article), "--index-dir", str(index_dir), "--json", "--quiet"))
        rows["cli"].append(report["seconds"] - report["embed_seconds"])
        rows["cli_rss"].append(rss)
        report, _ = _run([sys.executable, __file__, "--child", str(index_dir), doc_id, "--delete"])
        rows["cli_delete"].append(report["seconds"])
        report, _ = _run([sys.executable, __file__, "--child", str(index_dir), f"{doc_id}-store"])
        rows["store"].append(report["seconds"] - report["embed_seconds"])
        rows["store_rss"].append(report["peak_rss_mib"])
        rows["store_base"].append(report["rss_before_mib"])
        report, _ = _run([sys.executable, __file__, "--child", str(index_dir), f"{doc_id}-store", "--delete"])
        rows["store_delete"].append(report["seconds"])
        article.unlink()
    scratch.rmdir()
    return {"passages": info["passages"], "segments": info["segments"], **rows}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def plot(path: Path, results: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["passages"] for r in results]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(sizes, [_median(r["cli"]) for r in results], marker="o", label="semsearch index (one article), beyond embedding")
    ax.plot(sizes, [_median(r["store"]) for r in results], marker="s", label="writer alone (stand-in embedder)")
    ax.plot(sizes, [_median(r["cli_delete"]) for r in results], marker="^", label="delete of one article")
    ax.set_xscale("log")
    ax.set_xlabel("passages in the index")
    ax.set_ylabel("seconds (median)")
    ax.set_ylim(bottom=0)
    ax.set_title("Write cost against collection size (segments)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", nargs="+", default=[])
    parser.add_argument("--writes", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("INDEX_DIR", "DOC_ID"))
    parser.add_argument("--delete", action="store_true")
    parser.add_argument("--plot", default=str(ROOT / "artifacts" / "write_cost.png"))
    parser.add_argument("--title", default="Write cost against collection size (segments)")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of appending it to BENCHMARKS.md")
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args.delete)
    load = load_text()
    results = [measure(Path(d), args.writes) for d in args.index_dir]
    print(json.dumps(results), file=sys.stderr, flush=True)  # the raw figures first: nothing after them can lose them
    table = [
        [
            f"{r['passages']:,}", r["segments"], f"{_median(r['cli']):.3f}", f"{max(r['cli_rss']):.0f}",
            f"{_median(r['store']):.3f}", f"{max(r['store_rss']):.0f} ({_median(r['store_base']):.0f} before the write)",
            f"{_median(r['cli_delete']):.3f}",
        ]
        for r in results
    ]
    plot(Path(args.plot), results)
    body = (
        f"{args.writes} one-article writes per index (about 4 passages each), each in its own process. Load average: {load}.\n\n"
        + markdown_table(
            ["passages", "segments", "`semsearch index`: s beyond embedding (median)", "its peak RSS MiB (model included)",
             "writer alone: s", "writer alone: peak RSS MiB", "delete: s"],
            table,
        )
        + f"\n\n![write cost]({os.path.relpath(args.plot, ROOT)})\n\nRaw: `{json.dumps(results)}`\n"
    )
    publish(args.title, body, args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
