"""Smoke test of the subscriber CSV import benchmark."""

from __future__ import annotations

import pytest

from bench import subscribers_import


def test_import_benchmark_returns_positive_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny run (1,000 rows, in its own process) imports every row and prints each figure."""
    figures = subscribers_import.run(scale=0.001)
    assert set(figures) == {"rows_per_second", "seconds", "peak_mb", "cpu_us_per_row"}
    assert all(value > 0 for value in figures.values())
    # The peak is the import process's own (fresh interpreter), not the test runner's.
    assert figures["peak_mb"] < subscribers_import.TARGET_PEAK_MB
    printed = capsys.readouterr().out
    assert "1,000 rows" in printed
    for figure in ("rows/s", "peak memory", "us per row"):
        assert figure in printed


def test_a_failed_import_process_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's error reaches the caller instead of a figure."""
    monkeypatch.setattr(subscribers_import, "_write_csv", lambda path, rows: path.write_text(""))
    with pytest.raises(RuntimeError, match="the import process failed"):
        subscribers_import.run(scale=0.001)
