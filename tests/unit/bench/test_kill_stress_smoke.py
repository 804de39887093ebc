"""Smoke test of the kill stress benchmark: one tiny run, nothing duplicated, nothing lost."""

from __future__ import annotations

import pytest

from bench import kill_stress

pytestmark = pytest.mark.slow


def test_one_tiny_kill_run_loses_and_duplicates_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A single run with a killed and replaced worker reports zero duplicates and losses."""
    figures = kill_stress.run(scale=0.01)
    assert figures == {"runs": 1, "duplicates": 0, "losses": 0}
    assert "duplicates 0, losses 0" in capsys.readouterr().out
