"""Smoke test of the dispatch benchmark."""

from __future__ import annotations

import pytest

from bench import dispatch


def test_dispatch_benchmark_reports_rates_and_memory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny run delivers every recipient once and returns positive rates and peak memory."""
    monkeypatch.delenv("NEWSLETTER_TEST_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSLETTER_BENCH_DATABASE_URL", raising=False)
    figures = dispatch.run(scale=0.001)
    assert set(figures) == {"sqlite_rate", "sqlite_peak_mb", "naive_rate", "speedup"}
    assert all(value > 0 for value in figures.values())
    printed = capsys.readouterr().out
    assert "dispatch, 100 recipients on SQLite" in printed
    assert "PostgreSQL: skipped" in printed
