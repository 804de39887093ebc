"""Smoke test of the events benchmark."""

from __future__ import annotations

import pytest

from bench import events


def test_events_benchmark_applies_every_event(capsys: pytest.CaptureFixture[str]) -> None:
    """A tiny SQLite run posts through the webhook, applies every event and prints its figures."""
    figures = events.run(scale=0.001)
    assert set(figures) == {
        "sqlite_webhook_p50_ms",
        "sqlite_webhook_p99_ms",
        "sqlite_web_cpu_us_per_event",
        "sqlite_applied_per_s",
        "sqlite_applier_cpu_us_per_event",
    }
    assert all(value >= 0 for value in figures.values())
    assert figures["sqlite_applied_per_s"] > 0
    printed = capsys.readouterr().out
    assert "events sqlite:" in printed
    assert "applied" in printed
