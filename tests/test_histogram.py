"""Coverage over time: `histogram=day|week|month` counts the relevant results per interval, and each count is
what the same search filtered to that interval finds (real model, the seeds plus tests/dated_news.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from semsearch.errors import InvalidInputError
from semsearch.search.histogram import date_histogram
from semsearch.search.results import SearchFilters
from semsearch.search.search_options import search_options

from .conftest import run_cli, search_json
from .dated_news import DATED


def rows(dates: list[tuple[int, int]], sources: list[int] | None = None) -> SimpleNamespace:
    """A stand-in RowTable: what date_histogram reads."""
    return SimpleNamespace(
        date_lo=np.array([d[0] for d in dates], np.int32),
        date_hi=np.array([d[1] for d in dates], np.int32),
        source=np.array(sources if sources is not None else [-1] * len(dates), np.int32),
        sources=["AFP", "Reuters"],
    )


def test_weeks_start_on_monday_and_empty_intervals_between_are_kept():
    table = rows([(20240103, 20240103), (20240107, 20240107), (20240122, 20240122)])
    histogram = date_histogram(table, np.arange(3), "week")
    assert [(b.key, b.start, b.end, b.count) for b in histogram.buckets] == [
        ("2024-01-01", "2024-01-01", "2024-01-07", 2),
        ("2024-01-08", "2024-01-08", "2024-01-14", 0),
        ("2024-01-15", "2024-01-15", "2024-01-21", 0),
        ("2024-01-22", "2024-01-22", "2024-01-28", 1),
    ]


def test_an_article_counts_in_every_interval_its_date_covers_and_undated_ones_apart():
    table = rows([(20240201, 20240229), (20240215, 20240215), (0, 0)], [0, 1, -1])
    weeks = date_histogram(table, np.arange(3), "week", by_source=True)
    assert [b.count for b in weeks.buckets] == [1, 1, 2, 1, 1]  # Feb 2024 spans five ISO weeks
    assert weeks.undated == 1
    assert [(s.value, s.count) for s in weeks.buckets[2].sources] == [("AFP", 1), ("Reuters", 1)]
    months = date_histogram(table, np.arange(3), "month")
    assert [(b.key, b.start, b.end, b.count) for b in months.buckets] == [("2024-02", "2024-02-01", "2024-02-29", 2)]
    assert date_histogram(table, np.array([2]), "day").buckets == []


def test_a_bad_interval_is_refused_naming_the_field():
    with pytest.raises(InvalidInputError, match="^histogram: 'year' is not one of day, week, month") as caught:
        search_options(histogram="year")
    assert caught.value.field == "histogram"
    with pytest.raises(InvalidInputError, match="^histogram_by_source: needs histogram"):
        search_options(histogram_by_source=True)


@pytest.fixture(scope="module")
def dated_index(seed_index_master: Path, tmp_path_factory, embedder) -> Path:
    from semsearch.ingest.readers import document_from_record
    from semsearch.settings import Settings

    index_dir = tmp_path_factory.mktemp("histogram") / "index"
    shutil.copytree(seed_index_master, index_dir)
    settings = Settings(index_dir=index_dir)
    from semsearch.index.writer import IndexWriter

    writer = IndexWriter(index_dir, embedder, settings.chunking(), settings.index_type, settings.embed_batch_size)
    writer.write([document_from_record(doc, f"DATED[{i}]") for i, doc in enumerate(DATED)])
    return index_dir


@pytest.fixture(scope="module")
def dated_searcher(dated_index: Path, embedder):
    from semsearch.search.searcher import Searcher
    from semsearch.store.reader import open_index

    return Searcher(open_index(dated_index), embedder)


@pytest.mark.parametrize(
    ("interval", "question"),
    [
        ("day", "Quand la ligne E du métro de Lyon a-t-elle ouvert ?"),
        ("week", "Quand la ligne E du métro de Lyon a-t-elle ouvert ?"),
        ("month", "La coalition internationale en Irak"),
    ],
)
def test_histogram_counts_equal_the_totals_of_searches_filtered_to_each_interval(dated_searcher, interval, question):
    result = dated_searcher.search(question, k=10, options=search_options(histogram=interval))
    histogram = result.histogram
    assert histogram is not None and histogram.interval == interval
    nonempty = [b for b in histogram.buckets if b.count]
    assert nonempty, "the question has dated relevant results"
    for bucket in nonempty[:6]:
        filtered = dated_searcher.search(question, k=1, filters=SearchFilters(date_from=bucket.start, date_to=bucket.end))
        assert filtered.total == bucket.count, (bucket, filtered.total)
    every = dated_searcher.search(question, k=100)
    assert every.total <= 100 and histogram.undated == sum(1 for hit in every.results if not hit.date)


def test_cli_search_json_carries_the_histogram(dated_index: Path):
    data = search_json(dated_index, "Quand la ligne E du métro de Lyon a-t-elle ouvert ?", "--histogram", "week")
    keys = [b["key"] for b in data["histogram"]["buckets"] if b["count"]]
    assert "2024-05-06" in keys  # the week of Friday 10 and Saturday 11 May 2024
    bad = run_cli("search", "x", "--index-dir", str(dated_index), "--histogram", "year", check=False)
    assert bad.returncode == 2 and "invalid choice: 'year'" in bad.stderr
