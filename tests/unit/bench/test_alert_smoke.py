"""Smoke test of the alert benchmark: the API call, a real worker, Redis, PostgreSQL and the
SendGrid test server, at a few hundred readers."""

from __future__ import annotations

import pytest

from bench import alert
from tests import services
from tests.conftest import DB_PREFIX

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_alert_benchmark_times_the_click_and_reaches_exactly_the_audience(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """500 alert readers (on every topic or the briefing's) beside digest-only readers and
    readers on another topic: the figures are there, and the test server accepted exactly
    one copy for each alert reader and none for anyone else."""
    figures = alert.run(
        scale=0.005,
        database_url=services.postgres_url(),
        broker_url=services.redis_url(),
        db_prefix=DB_PREFIX,
    )
    assert figures["alert_seconds"] > 0
    assert figures["alert_api_ms"] > 0
    assert figures["alert_requests"] >= 1
    assert (figures["duplicates"], figures["missing"], figures["unwanted"]) == (0, 0, 0)
    printed = capsys.readouterr().out
    assert "alert: 500 readers, click to last accepted request" in printed


def test_copies_outside_the_audience_fail_the_run() -> None:
    """A duplicate, a missing reader or a copy to someone outside the audience is an error."""
    audience = alert.Audience(alert=frozenset({"a@x.org", "b@x.org"}), others=1)
    base = {"readers": 2, "seconds": 1.0, "api_seconds": 0.1, "requests": 1}
    exact = alert.Figures(copies={"a@x.org": 1, "b@x.org": 1}, **base)
    assert exact.check(audience) == (0, 0, 0)
    with pytest.raises(RuntimeError, match="1 readers duplicated, 1 missing, 0 outside"):
        alert.Figures(copies={"a@x.org": 2}, **base).check(audience)
    with pytest.raises(RuntimeError, match="0 readers duplicated, 0 missing, 1 outside"):
        alert.Figures(copies={"a@x.org": 1, "b@x.org": 1, "c@x.org": 1}, **base).check(audience)


def test_without_services_the_benchmark_says_it_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No PostgreSQL or no Redis broker: nothing runs, and the output says why."""
    assert alert.run(scale=0.01, database_url="", broker_url="redis://x") == {}
    assert "alert: skipped" in capsys.readouterr().out
