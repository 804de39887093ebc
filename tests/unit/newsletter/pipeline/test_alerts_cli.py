"""``newsletter briefings alert``: the count and a confirmation, then the alert started and a
worker asked to plan it; refusals as one line with nothing sent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from newsletter.cli import _Group
from newsletter.db import Database
from newsletter.digests.models import Digest
from newsletter.editors import services as accounts
from newsletter.editors.models import AuditEntry, Role
from newsletter.pipeline.alerts_cli import alert_command
from newsletter.publications.services import get_publication
from newsletter.runtime import Runtime
from tests.cli import run
from tests.factories import make_briefing, make_editors
from tests.unit.newsletter.pipeline import alert_seed
from tests.unit.newsletter.schedules import seed

ARGS = ("--publication", "morning", "--editor", "Pat")


@pytest.fixture
def flood(database: Database) -> None:
    """A publication with approved briefings "flood" and "fire" and four alert readers."""
    with database.session() as session:
        pub = seed.publication(session, briefings=0)
        make_briefing(session, slug="flood", title="Flood warning")
        make_briefing(session, slug="fire", title="Fire warning")
        alert_seed.alert_readers(session, pub, 4)
    make_editors(database, "Pat")  # --editor names an account


def alert(
    env: dict[str, str],
    *args: str,
    planned: Callable[[Runtime, int], bool] | None = None,
    input: str | None = None,
) -> tuple[Result, list[int]]:
    """``briefings alert`` with a stand-in for the worker's plan request; what it asked."""
    asked: list[int] = []

    def request_plan(rt: Runtime, digest_id: int) -> bool:
        asked.append(digest_id)
        return True

    group = _Group("briefings", commands={"alert": alert_command(planned or request_plan)})
    result = CliRunner().invoke(group, ["alert", *args], env=env, input=input)
    return result, asked


def alerts(database: Database) -> list[int]:
    with database.session() as session:
        return list(session.scalars(select(Digest.id).where(Digest.cadence == "alert")))


def test_yes_starts_the_alert_and_asks_a_worker(
    cli_env: dict[str, str], flood: None, database: Database
) -> None:
    """With --yes: the count, the alert started, its page, and one plan request."""
    result, asked = alert(cli_env, "flood", *ARGS, "--yes")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "'Flood warning' (flood) goes to 4 readers of morning, alert 1 of 3 today." in output
    assert "started for 4 readers (a worker sends it now)" in output
    assert asked == alerts(database)
    assert len(asked) == 1
    listing = run(cli_env, "schedule", "list")
    assert listing.exit_code == 0, listing.output
    assert " alert " in listing.output
    with database.session() as session:
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.actor, entry.action) == ("Pat", "alert.send")


def test_without_yes_it_asks_and_a_no_sends_nothing(
    cli_env: dict[str, str], flood: None, database: Database
) -> None:
    """Without --yes the editor confirms; answering no leaves nothing behind (exit 2)."""
    result, asked = alert(cli_env, "flood", *ARGS, input="n\n")
    assert result.exit_code == 2
    assert "Send it now?" in result.output
    assert "not confirmed: nothing was sent" in result.output
    assert (asked, alerts(database)) == ([], [])
    result, asked = alert(cli_env, "flood", *ARGS, input="y\n")
    assert result.exit_code == 0, result.output
    assert len(asked) == 1


def test_refusals_are_one_line_and_send_nothing(
    cli_env: dict[str, str], flood: None, database: Database
) -> None:
    """Already alerted, or past the limit without --over-limit: exit 2, the reason, no new
    alert; --over-limit by someone who is not an admin account is refused too."""
    assert alert(cli_env, "flood", *ARGS, "--yes")[0].exit_code == 0
    result, asked = alert(cli_env, "flood", *ARGS, "--yes")
    assert result.exit_code == 2
    assert "was already sent as an alert in morning" in result.output
    assert "Traceback" not in result.output
    with database.session() as session:
        get_publication(session, "morning").alerts_per_day = 1
    result, asked = alert(cli_env, "fire", *ARGS, "--yes")
    assert result.exit_code == 2
    assert "needs an admin's override" in " ".join(result.output.split())
    result, asked = alert(cli_env, "fire", *ARGS, "--yes", "--over-limit")
    assert result.exit_code == 2
    assert "only an admin may go past it" in " ".join(result.output.split())
    assert asked == []
    assert len(alerts(database)) == 1


def test_an_admin_goes_past_the_limit_and_it_is_audited(
    cli_env: dict[str, str], flood: None, database: Database
) -> None:
    """An admin --editor with --over-limit sends it; the audit entry says over_limit."""
    with database.session() as session:
        get_publication(session, "morning").alerts_per_day = 0
        accounts.create_editor(session, "Ada", "ada@example.org", Role.ADMIN, "a long password!")
    args = ("--publication", "morning", "--editor", "Ada", "--yes", "--over-limit")
    result, asked = alert(cli_env, "fire", *args)
    assert len(asked) == 1
    assert result.exit_code == 0, result.output
    assert "(over the limit)" in result.output
    with database.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.send")).one()
        assert entry.detail["over_limit"] is True


def test_without_a_broker_the_tick_sends_it(
    cli_env: dict[str, str], flood: None, database: Database
) -> None:
    """A failed plan request still leaves the alert started, and says who sends it."""
    result, _ = alert(cli_env, "flood", *ARGS, "--yes", planned=lambda rt, digest_id: False)
    assert result.exit_code == 0, result.output
    assert "no broker: the beat's tick sends it" in " ".join(result.output.split())


def test_the_command_is_registered_under_briefings(cli_env: dict[str, str]) -> None:
    """``newsletter briefings alert --help`` exists and names the override."""
    result = run(cli_env, "briefings", "alert", "--help")
    assert result.exit_code == 0
    assert "--over-limit" in result.output
    with_count = run(cli_env, "briefings", "--help")
    assert "alert" in with_count.output
