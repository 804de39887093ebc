"""Smoke test of the personal-digests benchmark (a tiny run; the figures are for the docs)."""

from __future__ import annotations

import pytest

from bench import personal
from tests import services


def test_personal_benchmark_compares_both_runs_and_prints_render_times(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny run delivers every reader once in both runs and prints the ratio."""
    monkeypatch.delenv("NEWSLETTER_TEST_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSLETTER_BENCH_DATABASE_URL", raising=False)
    figures = personal.run(scale=0.001)
    assert set(figures) == {"single_rate", "personal_rate", "ratio"}
    assert all(value > 0 for value in figures.values())
    printed = capsys.readouterr().out
    assert "rendering per variant: mean" in printed
    assert "(50 variants" in printed
    assert "personal digests at" in printed


def test_the_selections_and_zones_are_as_the_issue_asks() -> None:
    """Fifty distinct selections, twenty-four zones at distinct offsets."""
    assert len(set(personal.SELECTIONS)) == 50
    assert len(set(personal.ZONES)) == 24


@pytest.mark.postgres
def test_the_ratio_is_printed_with_postgresqls_buffer_cache() -> None:
    """The buffer cache the ratio depends on is read from the server (none on SQLite)."""
    size = personal._buffer_cache(services.postgres_url())
    assert size is not None
    assert size[-2:] in ("kB", "MB", "GB", "TB")
    assert personal._buffer_cache("sqlite://") is None
