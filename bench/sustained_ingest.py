"""Sustained ingest: one-article writes over HTTP into an index while clients search (issue #12).

    python bench/sustained_ingest.py --index-dir data/bench/ingest-1m-src [--writes 2000] [--clients 8] [--no-write]

The index at --index-dir is copied (it is never written) into --work-dir, and a real `semsearch serve`
(default model, real embedding of every written article on the server, background merges on as
shipped; query cache off unless --query-cache, so every search is a model call) runs on the copy on
127.0.0.1. Then, at the same time:

- one writer sends --writes one-article requests, one after another: POST /documents with a new
  French article (1-3 passages, seed sentences around a unique sentence), every --replace-every-th a
  new version of an earlier article (same id), every --delete-every-th DELETE /documents/{id} of an
  earlier one, so that tombstones and merges happen;
- --clients threads send GET /search (French questions, k=10, hybrid) continuously, each waiting --think
  seconds after an answer (default 0: no pause);
- a poller reads GET /stats every --poll seconds: segments, deleted passages, merges committed,
  `merging` (segments being merged now), and the load average.

A search counts as "during a merge" when it overlaps a poll interval with `merging` at either end (the
merges seen so are counted beside the merges committed: a merge shorter than a poll can be missed).
Reported: write p50/p99 (per kind), search p50/p99 overall, during merges and outside them, segment
count (start, max, final), deleted passages, merges, load average, duration;
artifacts/sustained_ingest.png plots segments and write latency over time.
Appends a section to BENCHMARKS.md under "Index writes and segments" (--no-write prints it instead).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _common import markdown_table, publish  # noqa: E402
from _perf import ServerProcess, load_text, loadavg, percentiles  # noqa: E402

SECTION = "## Index writes and segments"
_OPENINGS = (
    "Que dit le gouvernement irakien sur",
    "Quand ont commencé les discussions sur",
    "Pourquoi les milices s'opposent-elles à",
    "Quel est l'avenir de",
    "Qui a décidé de",
    "Combien de personnes sont touchées par",
    "Qu'a-t-on annoncé sur",
    "Comment l'Iran a-t-il réagi à",
    "Que sait-on de",
    "Quel rôle joue Washington dans",
    "Pourquoi la colère après",
    "Quels responsables ont parlé de",
    "Quels sont les risques de",
    "Qui a critiqué",
    "Quel est le calendrier de",
    "Comment les élections pèsent-elles sur",
    "Que veut le Premier ministre pour",
    "Où se sont tenues les réunions sur",
    "Que rapporte l'AFP sur",
    "Quelle est la position de Bagdad sur",
)
_SUBJECTS = (
    "la coalition dirigée par les États-Unis",
    "les soldats américains en Irak",
    "le retrait des forces étrangères",
    "la frappe de drone à Bagdad",
    "le chef de milice tué en janvier",
    "le comité bilatéral",
    "la lutte contre l'État islamique",
    "la fin de la mission de combat",
    "les attaques contre les bases américaines",
    "les tirs de roquettes depuis octobre",
    "le vote du Parlement irakien",
    "les groupes pro-iraniens",
    "la réduction progressive des troupes",
    "la présence de la coalition",
    "les conseillers militaires",
    "la sécurité de l'Irak",
    "l'invasion de 2003",
    "la mort de Qassem Soleimani",
    "les négociations avec Washington",
    "la guerre à Gaza",
    "la formation des forces irakiennes",
    "les frappes aériennes en Syrie",
    "la souveraineté de l'Irak",
    "le communiqué du Pentagone",
    "le budget municipal",
    "la rénovation des écoles",
    "la foire aux livres anciens",
    "les prix de l'énergie",
    "la grève des transports",
    "les inondations dans le sud",
)
_CITIES = ("Lyon", "Lille", "Nantes", "Rennes", "Dijon", "Metz", "Tours", "Brest", "Nancy", "Reims", "Caen", "Pau", "Nîmes", "Amiens")
_EVENTS = (
    "Le conseil municipal de {city} a voté {n} millions d'euros pour la dépêche {i}.",
    "À {city}, {n} manifestants ont défilé mardi, selon la préfecture (dépêche {i}).",
    "La mairie de {city} annonce {n} nouveaux logements sociaux d'ici deux ans, précise la dépêche {i}.",
    "Un incendie a détruit {n} hectares de forêt près de {city}, indique la dépêche {i}.",
)


def french_questions(n: int = 600, seed: int = 11) -> list[str]:
    questions = [f"{opening} {subject} ?" for opening in _OPENINGS for subject in _SUBJECTS]
    random.Random(seed).shuffle(questions)
    return questions[:n]


def seed_sentences() -> list[str]:
    sentences: list[str] = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        text = re.sub(r"^\W*date \d{4}-\d{2}\s*", "", path.read_text())  # the seeds' date line
        sentences += [s.strip() for s in re.split(r"(?<=[.!?»\"])\s+", text) if 40 <= len(s.strip()) <= 400]
    return sentences


def article(i: int, version: int, sentences: list[str], rng: random.Random) -> dict:
    """A short French article: a unique sentence, then 2 to 10 seed sentences (1-3 passages)."""
    lead = rng.choice(_EVENTS).format(city=rng.choice(_CITIES), n=rng.randint(2, 900), i=i)
    body = rng.sample(sentences, rng.randint(2, 10))
    paragraphs = [lead + " " + " ".join(body[:2])] + [" ".join(body[k : k + 3]) for k in range(2, len(body), 3)]
    if version:
        paragraphs.append(f"Mise à jour {version} : le bilan a été révisé à {rng.randint(2, 900)}.")
    return {
        "id": f"ingest/{i:05d}",
        "title": f"Dépêche {i}",
        "date": "2024-05",
        "source": "bench",
        "lang": "fr",
        "text": "\n\n".join(paragraphs),
    }


class Run:
    """What the threads record; each list is appended by one thread only."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.writes: list[dict] = []  # t (s since start), kind, ms, status, passages
        self.searches: list[tuple[float, float, int]] = []  # start t, end t, status
        self.polls: list[dict] = []
        self.errors: list[str] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    def error(self, message: str) -> None:
        if len(self.errors) < 200:
            self.errors.append(message)
        print(message, file=sys.stderr, flush=True)


def writer(run: Run, base: str, key: str, writes: int, replace_every: int, delete_every: int, deadline: float) -> None:
    rng = random.Random(12)
    sentences = seed_sentences()
    live: list[int] = []
    versions: dict[int, int] = {}
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, timeout=600, trust_env=False) as client:
        for n in range(writes):
            if run.stop.is_set() or time.monotonic() > deadline:
                print(f"writer stopped after {n} writes (--max-hours)", file=sys.stderr, flush=True)
                return
            t0 = time.perf_counter()
            try:
                if delete_every and n % delete_every == delete_every - 1 and len(live) > 1:
                    i = live.pop(rng.randrange(len(live) - 1))
                    kind, response = "delete", client.delete(f"/documents/ingest/{i:05d}", headers=auth)
                elif replace_every and n % replace_every == replace_every - 1 and len(live) > 1:
                    i = live[rng.randrange(len(live) - 1)]
                    versions[i] = versions.get(i, 0) + 1
                    doc = article(i, versions[i], sentences, rng)
                    kind, response = "replace", client.post("/documents", json={"documents": [doc]}, headers=auth)
                else:
                    i = len(versions)
                    versions[i] = 0
                    live.append(i)
                    doc = article(i, 0, sentences, rng)
                    kind, response = "add", client.post("/documents", json={"documents": [doc]}, headers=auth)
            except httpx.HTTPError as exc:
                run.error(f"write {n}: {type(exc).__name__}: {exc}")
                continue
            ms = (time.perf_counter() - t0) * 1000
            body = response.json() if response.status_code == 200 else {}
            run.writes.append({"t": run.now(), "kind": kind, "ms": ms, "status": response.status_code, "passages": body.get("passages")})
            if response.status_code != 200:
                run.error(f"write {n} ({kind}): {response.status_code} {response.text[:200]}")
            if (n + 1) % 50 == 0:
                print(
                    f"{n + 1}/{writes} writes, last {ms:.0f} ms, {len(run.searches)} searches, load {load_text()}", file=sys.stderr, flush=True
                )


def searcher(run: Run, base: str, questions: list[str], seed: int, think: float = 0.0) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=120, trust_env=False) as client:
        while not run.stop.is_set():
            t0 = run.now()
            try:
                status = client.get("/search", params={"q": rng.choice(questions), "k": 10}).status_code
            except httpx.HTTPError as exc:
                run.error(f"search: {type(exc).__name__}: {exc}")
                time.sleep(0.5)
                continue
            run.searches.append((t0, run.now(), status))
            if status != 200:
                run.error(f"search: status {status}")
            if think:
                run.stop.wait(think)


def poller(run: Run, base: str, every: float) -> None:
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as client:
        while not run.stop.is_set():
            try:
                stats = client.get("/stats").json()
                run.polls.append(
                    {
                        "t": run.now(),
                        "segments": stats["segments"],
                        "deleted": stats["deleted_passages"],
                        "merges": stats["merges"],
                        "merging": stats["merging"],
                        "passages": stats["passages"],
                        "load1": loadavg()[0],
                    }
                )
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                run.error(f"/stats: {type(exc).__name__}: {exc}")
            run.stop.wait(every)


def merge_windows(polls: list[dict]) -> list[tuple[float, float]]:
    """Time intervals in which a merge ran: from the poll before the first that saw `merging` to the first
    that no longer did (a merge shorter than a poll interval can be missed: compare their number to the
    merges committed)."""
    windows: list[tuple[float, float]] = []
    for before, after in zip(polls, polls[1:]):
        if before["merging"] or after["merging"]:
            if windows and windows[-1][1] >= before["t"]:
                windows[-1] = (windows[-1][0], after["t"])
            else:
                windows.append((before["t"], after["t"]))
    return windows


def summarize(run: Run, windows: list[tuple[float, float]]) -> dict:
    ok = [(a, b) for a, b, status in run.searches if status == 200]
    starts = np.array([w[0] for w in windows])
    ends = np.array([w[1] for w in windows])

    def during(a: float, b: float) -> bool:
        return bool(len(windows)) and bool(np.any((starts <= b) & (ends >= a)))

    merging = [(b - a) * 1000 for a, b in ok if during(a, b)]
    quiet = [(b - a) * 1000 for a, b in ok if not during(a, b)]
    writes_ok = [w for w in run.writes if w["status"] == 200]
    polls = run.polls
    return {
        "writes": len(run.writes),
        "writes_failed": len(run.writes) - len(writes_ok),
        "write": percentiles([w["ms"] for w in writes_ok], (50, 99)),
        "write_kind": {
            k: (sum(w["kind"] == k for w in writes_ok), percentiles([w["ms"] for w in writes_ok if w["kind"] == k], (50, 99)))
            for k in ("add", "replace", "delete")
        },
        "searches": len(ok),
        "searches_failed": len(run.searches) - len(ok),
        "search": percentiles([(b - a) * 1000 for a, b in ok], (50, 99)),
        "search_merging": (len(merging), percentiles(merging, (50, 99))),
        "search_quiet": (len(quiet), percentiles(quiet, (50, 99))),
        "merge_seconds": sum(b - a for a, b in windows),
        "segments": (polls[0]["segments"], max(p["segments"] for p in polls), polls[-1]["segments"]) if polls else (0, 0, 0),
        "deleted": (max(p["deleted"] for p in polls), polls[-1]["deleted"]) if polls else (0, 0),
        "merges": polls[-1]["merges"] - polls[0]["merges"] if polls else 0,
        "passages": (polls[0]["passages"], polls[-1]["passages"]) if polls else (0, 0),
        "load1": (float(np.mean([p["load1"] for p in polls])), max(p["load1"] for p in polls)) if polls else (0, 0),
    }


def plot(path: Path, run: Run, windows: list[tuple[float, float]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 5.5), sharex=True)
    minutes = 60.0
    top.step([p["t"] / minutes for p in run.polls], [p["segments"] for p in run.polls], where="post", label="segments")
    for axis in (top, bottom):
        for a, b in windows:
            axis.axvspan(a / minutes, b / minutes, color="tab:orange", alpha=0.25, lw=0)
    top.set_ylabel("segments")
    top.set_ylim(bottom=0)
    top.set_title(title, fontsize=10)
    top.plot([], [], color="tab:orange", alpha=0.4, lw=6, label="merge running")
    top.legend(fontsize=8, loc="upper right")
    for kind, marker in (("add", "."), ("replace", "x"), ("delete", "v")):
        points = [w for w in run.writes if w["kind"] == kind and w["status"] == 200]
        bottom.scatter([w["t"] / minutes for w in points], [w["ms"] / 1000 for w in points], s=6, marker=marker, label=f"write: {kind}")
    ok = sorted((a, (b - a)) for a, b, status in run.searches if status == 200)
    if ok:
        t = np.array([a for a, _ in ok])
        ms = np.array([d for _, d in ok])
        bins = np.arange(0, t.max() + 10, 10)
        which = np.digitize(t, bins)
        med = [(bins[i - 1] + 5, float(np.median(ms[which == i]))) for i in np.unique(which)]
        bottom.plot([m[0] / minutes for m in med], [m[1] for m in med], color="black", lw=1, label="search p50 (10 s bins)")
    bottom.set_yscale("log")
    bottom.set_ylabel("seconds")
    bottom.set_xlabel("minutes since the first write")
    bottom.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def fmt(pair) -> str:
    return " / ".join(f"{v:.0f}" for v in pair)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", required=True, help="the index to copy (never written)")
    parser.add_argument("--work-dir", default=str(ROOT / "data" / "bench" / "ingest-run"), help="where the copy goes (replaced)")
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--think", type=float, default=0.0,
        help="seconds each client waits between its searches (0: none, the clients keep both cores busy)",
    )
    parser.add_argument("--replace-every", type=int, default=20, help="every Nth write replaces an earlier article (0: never)")
    parser.add_argument("--delete-every", type=int, default=50, help="every Nth write deletes an earlier article (0: never)")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between two GET /stats")
    parser.add_argument("--query-cache", type=int, default=0, help="SEMSEARCH_QUERY_CACHE_SIZE of the server")
    parser.add_argument("--settle", type=float, default=600.0, help="after the last write, wait up to this for merges to end")
    parser.add_argument("--max-hours", type=float, default=3.0, help="the writer stops after this")
    parser.add_argument("--plot", default=str(ROOT / "artifacts" / "sustained_ingest.png"))
    parser.add_argument("--title", default=None)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of adding it to BENCHMARKS.md")
    args = parser.parse_args()

    source, work = Path(args.index_dir).resolve(), Path(args.work_dir).resolve()
    if work == source or source in work.parents:
        raise SystemExit("--work-dir must not be --index-dir or inside it")
    shutil.rmtree(work, ignore_errors=True)
    work.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    shutil.copytree(source, work / "index", ignore=shutil.ignore_patterns(".tmp-*", ".lock"))
    print(f"copied {source} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    key = secrets.token_hex(16)
    env = {"SEMSEARCH_API_KEY": key, "SEMSEARCH_QUERY_CACHE_SIZE": str(args.query_cache)}
    run = Run()
    threads: list[threading.Thread] = []
    load_start = load_text()
    server = ServerProcess(work / "index", work / "serve.log", env=env, workdir=work)
    try:
        ready_s = server.wait_ready(timeout=900)
        print(f"server ready in {ready_s:.1f} s", file=sys.stderr, flush=True)
        run.started = time.monotonic()
        threads.append(threading.Thread(target=poller, args=(run, server.base, args.poll), daemon=True))
        questions = french_questions()
        threads += [
            threading.Thread(target=searcher, args=(run, server.base, questions, c, args.think), daemon=True)
            for c in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + args.max_hours * 3600
        writer(run, server.base, key, args.writes, args.replace_every, args.delete_every, deadline)
        writes_done = run.now()
        settle_until = time.monotonic() + args.settle  # searches go on until the merges the writes started are over
        while time.monotonic() < settle_until and server.proc.poll() is None:
            time.sleep(args.poll)
            recent = run.polls[-3:]
            if len(recent) == 3 and not any(p["merging"] for p in recent) and recent[0]["merges"] == recent[-1]["merges"]:
                break
        duration = run.now()
    finally:
        run.stop.set()
        for thread in threads:
            thread.join(timeout=150)
        server.stop()
    load_end = load_text()

    windows = merge_windows(run.polls)
    s = summarize(run, windows)
    raw = work / "sustained_ingest.json"
    raw.write_text(json.dumps({"writes": run.writes, "searches": run.searches, "polls": run.polls, "errors": run.errors}))
    title = args.title or (
        f"Sustained ingest: {s['writes']:,} one-article writes over HTTP while {args.clients} clients search"
        + (f" ({args.think:g} s pause between searches)" if args.think else "")
    )
    plot(Path(args.plot), run, windows, f"{s['passages'][0]:,} passages, {s['writes']:,} writes, {args.clients} search clients")

    kinds = ", ".join(f"{k} {n} (p50 / p99 {fmt(p)} ms)" for k, (n, p) in s["write_kind"].items())
    rows = [
        [
            "index",
            f"copy of `{os.path.relpath(source, ROOT) if source.is_relative_to(ROOT) else source}`: "
            f"{s['passages'][0]:,} passages at the start, {s['passages'][1]:,} at the end",
        ],
        [
            "writes (one article each, sequential)",
            f"{s['writes']:,}"
            + (f" of {args.writes:,} (stopped by --max-hours)" if s["writes"] < args.writes else "")
            + f" in {writes_done / 60:.1f} min: {kinds}; failed {s['writes_failed']}",
        ],
        ["write latency p50 / p99", f"**{fmt(s['write'])} ms**"],
        ["searches (GET /search, k=10, hybrid)", f"{s['searches']:,} ({s['searches'] / duration:.1f}/s), failed {s['searches_failed']}"],
        ["search latency p50 / p99, all", f"**{fmt(s['search'])} ms**"],
        ["search p50 / p99 during merges", f"**{fmt(s['search_merging'][1])} ms** ({s['search_merging'][0]:,} searches)"],
        ["search p50 / p99 outside merges", f"{fmt(s['search_quiet'][1])} ms ({s['search_quiet'][0]:,} searches)"],
        [
            "merges committed / seen running by the poll / time a merge ran",
            f"{s['merges']} / {len(windows)} / {s['merge_seconds']:.0f} s of {duration:.0f} s",
        ],
        ["segments: start / max / final", " / ".join(str(v) for v in s["segments"])],
        ["deleted passages: max / final", " / ".join(str(v) for v in s["deleted"])],
        ["load average 1/5/15: start -> end", f"{load_start} -> {load_end}"],
        ["1-min load during the run: mean / max", f"{s['load1'][0]:.1f} / {s['load1'][1]:.1f}"],
        ["duration (first write to the end of the last merge)", f"{duration / 60:.1f} min; server ready {ready_s:.1f} s after launch"],
        ["errors", str(len(run.errors)) + ("" if not run.errors else f" (first: {run.errors[0][:120]})")],
    ]
    pause = f"with a {args.think:g} s pause after each answer" if args.think else "without pause"
    body = (
        f"A real `semsearch serve` (default model, each article embedded by the server, background merges as shipped, "
        f"query cache {args.query_cache}) on a copy of the index; one writer sends one-article writes one after another "
        f"(every {args.replace_every}th a replacement of an earlier article, every {args.delete_every}th a delete) while "
        f"{args.clients} threads search {pause} (French questions, each a model call). GET /stats every {args.poll:g} s: "
        "a search counts as during a merge when it overlaps a poll interval with `merging` (segments being merged) at "
        "either end.\n\n" + markdown_table(["measure", "value"], rows) + f"\n\n![sustained ingest]({os.path.relpath(args.plot, ROOT)})\n"
    )
    publish(title, body, args.no_write, part=SECTION)
    print(f"raw samples: {raw}", file=sys.stderr)
    return 1 if s["writes_failed"] or s["searches_failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
