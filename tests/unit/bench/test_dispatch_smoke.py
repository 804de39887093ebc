"""Smoke test of the dispatch benchmark."""

from __future__ import annotations

import multiprocessing
import sys
from typing import Any

import pytest

from bench import dispatch


def test_dispatch_benchmark_reports_rates_and_memory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny run delivers every recipient once and returns positive rates and peak memory."""
    monkeypatch.delenv("NEWSLETTER_TEST_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSLETTER_BENCH_DATABASE_URL", raising=False)
    figures = dispatch.run(scale=0.001)
    assert set(figures) == {
        "sqlite_rate",
        "sqlite_peak_mb",
        "naive_rate",
        "speedup",
        "speedup_round_trip",
    }
    assert all(value > 0 for value in figures.values())
    printed = capsys.readouterr().out
    assert "dispatch, 100 recipients on SQLite" in printed
    assert "PostgreSQL: skipped" in printed


def _report_peak(results: Any) -> None:
    results.put(dispatch.peak_memory_mb())


@pytest.mark.skipif(sys.platform != "linux", reason="exec keeps ru_maxrss only on Linux")
def test_a_spawned_child_reports_its_own_peak_not_its_parents() -> None:
    """The dispatch child's figure is its own: a big parent does not inflate it."""
    ballast = b"x" * (400 * 1024 * 1024)  # written, so resident in this (the parent) process
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_report_peak, args=(results,))
    child.start()
    peak = results.get(timeout=60)
    child.join()
    del ballast
    assert 0 < peak < 300
