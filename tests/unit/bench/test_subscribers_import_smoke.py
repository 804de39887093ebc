"""Smoke test of the subscriber CSV import benchmark."""

from __future__ import annotations

import pytest

from bench import subscribers_import


def test_import_benchmark_returns_positive_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny run imports every row and prints a positive rate."""
    figures = subscribers_import.run(scale=0.01)
    assert set(figures) == {"rows_per_second", "seconds"}
    assert all(value > 0 for value in figures.values())
    assert "rows/s" in capsys.readouterr().out
