"""Smoke test of the feed benchmark."""

from __future__ import annotations

import pytest

from bench import feeds


def test_feed_benchmark_returns_positive_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny run builds every feed, answers a 304 with and without the feed cache, and
    prints and returns its figures."""
    figures = feeds.run(scale=0.01)
    assert set(figures) == {
        "all_feeds_ms",
        "not_modified_ms",
        "not_modified_uncached_ms",
        "all_feeds_kb",
    }
    assert all(value > 0 for value in figures.values())
    output = capsys.readouterr().out
    assert "all 12 feeds of a publication with 50 editions" in output
    assert "304 Not Modified" in output
    assert "with the feed cache" in output


def test_benchmark_feeds_are_full() -> None:
    """The benchmark's briefings and editions feeds hold the default 50 entries."""
    src = feeds.source()
    assert [len(f.entries) for f in feeds.all_feeds(src)][:2] == [50, 50]
