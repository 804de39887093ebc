"""Smoke test of the render benchmark."""

from __future__ import annotations

import pytest

from bench import render


def test_render_benchmark_returns_positive_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny run prints its figures and returns positive timings and size."""
    figures = render.run(scale=0.01)
    assert set(figures) == {"email_ms", "web_page_ms", "html_kb"}
    assert all(value > 0 for value in figures.values())
    assert "render_email, 10 briefings" in capsys.readouterr().out
