"""Smoke test of the render benchmark and of the benchmark runner."""

from __future__ import annotations

import pytest

from bench import __main__ as runner
from bench import render


def test_render_benchmark_returns_positive_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny run prints its figures and returns positive timings and size."""
    figures = render.run(scale=0.01)
    assert set(figures) == {"email_ms", "web_page_ms", "html_kb"}
    assert all(value > 0 for value in figures.values())
    assert "render_email, 10 briefings" in capsys.readouterr().out


def test_runner_finds_modules_and_refuses_unknown_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The runner lists modules defining run() and exits 2 on an unknown name."""
    assert "render" in runner.discover()
    assert runner.main(["no-such-bench"]) == 2
    assert "unknown benchmark: no-such-bench" in capsys.readouterr().err
