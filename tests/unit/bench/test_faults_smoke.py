"""Smoke test of the fault harness: a tiny run on real processes, and the check it applies."""

from __future__ import annotations

from datetime import date

import pytest

from bench import faults
from bench._faultcheck import judge
from newsletter.delivery.report import DeliveryReport
from tests import services
from tests.conftest import DB_PREFIX


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_killed_workers_leave_no_duplicate_no_loss_and_a_truthful_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Scenario e (workers SIGKILLed mid-send, edition sent ahead): 200 readers, each released
    exactly once, and the report matches the provider reader by reader."""
    figures = faults.run(
        database_url=services.postgres_url(),
        broker_url=services.redis_url(),
        db_prefix=DB_PREFIX,
        scenarios=["e"],
        readers=200,
        seed=7,
    )
    assert figures == {
        "e_runs": 1,
        "e_clean": 1,
        "e_duplicates": 0,
        "e_lost": 0,
        "e_untruthful": 0,
        "e_unfinished": 0,
    }
    printed = capsys.readouterr().out
    assert "e run 1: 200 readers, delivered 200, duplicates 0, lost 0; report truthful" in printed


def _report(state: str, by_state: dict[str, int]) -> DeliveryReport:
    """A report with these counts (the rest does not matter to the check)."""
    return DeliveryReport(1, "morning", date(2026, 1, 1), state, by_state=by_state)


def test_a_report_that_disagrees_with_the_provider_is_not_truthful() -> None:
    """Truthful means: sent exactly for the readers released, and a final state matching counts."""
    readers = {"a@x.org": "accepted", "b@x.org": "accepted"}
    lied = judge(readers, {"a@x.org": 1}, _report("sent", {"accepted": 2}))
    assert (lied.delivered, lied.lost, lied.truthful) == (1, 1, False)
    assert "1 reader(s) reported sent but never released" in lied.problems[0]
    twice = judge(readers, {"a@x.org": 2, "b@x.org": 1}, _report("sent", {"accepted": 2}))
    assert (twice.duplicates, twice.truthful, twice.clean) == (1, True, False)
    failed = {"a@x.org": "accepted", "b@x.org": "failed"}
    hid = judge(failed, {"a@x.org": 1, "b@x.org": 1}, _report("partially_failed", {}))
    assert not hid.truthful
    wrong_state = judge(failed, {"a@x.org": 1}, _report("sent", {"accepted": 1, "failed": 1}))
    assert "state sent but counts say partially_failed" in wrong_state.problems
    honest = judge(
        failed, {"a@x.org": 1}, _report("partially_failed", {"accepted": 1, "failed": 1})
    )
    assert (honest.truthful, honest.lost, honest.clean) == (True, 1, False)
    still_open = judge({"a@x.org": "scheduled"}, {}, _report("sending", {"scheduled": 1}))
    assert "the edition is still sending" in still_open.problems


def test_without_a_database_the_harness_says_it_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No PostgreSQL: nothing runs and the output says why; an unknown scenario is refused."""
    assert faults.run(database_url="") == {}
    assert "faults: skipped" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--scenario: unknown z"):
        faults.run(database_url="postgresql://x", scenarios=["z"])
