"""Smoke test of the feed benchmark."""

from __future__ import annotations

import pytest

from bench import feeds


def test_feed_benchmark_returns_positive_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny run builds every feed, answers a 304 with and without the feed server, measures
    per-feed build costs at two archive sizes and sweeps the topic feeds, and prints and
    returns its figures (HTTP is left out at this scale)."""
    figures = feeds.run(scale=0.01)
    expected = {"all_feeds_ms", "not_modified_ms", "not_modified_uncached_ms", "all_feeds_kb"}
    for size in ("small", "large"):
        for name in (
            "briefings",
            "editions",
            "broad_topic",
            "niche_topic",
            "topic_index",
            "topic_index_step",
        ):
            expected.add(f"{size}_{name}_ms")
    expected |= {"sweep_cold_s", "sweep_warm_s", "sweep_builds", "cache_mb"}
    assert set(figures) == expected
    assert all(value > 0 for value in figures.values())
    assert figures["sweep_builds"] == 10  # one build (all formats) per topic feed
    assert figures["sweep_warm_s"] < figures["sweep_cold_s"]
    output = capsys.readouterr().out
    assert "all 12 feeds of a publication with 50 editions" in output
    assert "304 Not Modified" in output
    assert "per-feed build (load + 3 formats), 50 editions, 10 topics" in output
    assert "all 10 topic feeds through one feed server" in output
    assert "HTTP: skipped" in output


def test_benchmark_feeds_are_full() -> None:
    """The benchmark's briefings and editions feeds hold the default 50 entries."""
    src = feeds.source()
    assert [len(f.entries) for f in feeds.all_feeds(src)][:2] == [50, 50]


def test_archive_seed_gives_full_broad_and_sparse_niche_topics() -> None:
    """The seeded archive's broad topic feed is full and each niche topic holds its share."""
    with feeds.scratch_database(None, "unused_") as database:
        feeds.seed_archive(database, editions=60, topics=10)
        with database.session() as session:
            publication = feeds.get_publication(session, "bench")
            broad = feeds.load_feed(session, publication, "topics/economy")
            niche = feeds.load_feed(session, publication, "topics/niche-3")
    assert len(broad.entries) == 50
    assert len(niche.entries) == 12  # briefings 3, 13, ..., 113
