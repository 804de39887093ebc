"""The ``newsletter schedule`` commands, ``publications pause|resume`` and ``digest send-now``."""

from __future__ import annotations

import json
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest

import newsletter.cli  # noqa: F401  (first: the root CLI imports every feature's commands)
from newsletter.db import Database, utcnow
from newsletter.errors import InvalidInputError
from newsletter.schedules import claim, services
from newsletter.schedules.cli import parse_at, parse_time
from tests.cli import run
from tests.unit.newsletter.schedules import seed


def listing(env: dict[str, str]) -> Any:
    """``schedule list --json``, parsed."""
    result = run(env, "schedule", "list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def morning(database: Database) -> Database:
    """The CLI's database holds publication 'morning' with briefings ready."""
    with database.session() as session:
        seed.publication(session, created=utcnow() - timedelta(minutes=1))
    return database


def test_set_stores_the_schedule_and_shows_the_next_editions(
    cli_env: dict[str, str], morning: Database
) -> None:
    """schedule set changes time, zone and days, and prints the next local send times."""
    result = run(
        cli_env,
        "schedule",
        "set",
        "--publication",
        "morning",
        "--time",
        "07:00",
        "--timezone",
        "Europe/London",
        "--days",
        "mon-fri",
    )
    assert result.exit_code == 0, result.output
    assert "morning sends at 07:00 Europe/London on mon,tue,wed,thu,fri." in result.output
    assert result.output.count("next:") == 3
    assert all(" 07:00 " in line for line in result.output.splitlines() if "next:" in line)
    listed = listing(cli_env)["schedules"][0]
    assert (listed["timezone"], listed["weekdays"]) == (
        "Europe/London",
        ["mon", "tue", "wed", "thu", "fri"],
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--time", "7am", "--timezone", "UTC", "--days", "mon"), "--time: '7am'"),
        (("--time", "07:00", "--timezone", "Moon/Base", "--days", "mon"), "Moon/Base"),
        (("--time", "07:00", "--timezone", "UTC", "--days", "someday"), "--days"),
    ],
)
def test_set_refuses_bad_input_with_one_line(
    cli_env: dict[str, str], morning: Database, args: tuple[str, ...], message: str
) -> None:
    """Bad options exit 2 with one line naming the option, and change nothing."""
    result = run(cli_env, "schedule", "set", "--publication", "morning", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert listing(cli_env)["schedules"][0]["timezone"] == "UTC"


def test_once_list_and_cancel(cli_env: dict[str, str], morning: Database) -> None:
    """A one-off edition is listed with its local time, then cancelled by id."""
    result = run(
        cli_env, "schedule", "once", "--publication", "morning", "--at", "2099-12-01 07:00"
    )
    assert result.exit_code == 0, result.output
    assert "Scheduled edition 1: morning 2099-12-01 at 2099-12-01 07:00 UTC." in result.output
    edition = listing(cli_env)["editions"][0]
    assert (edition["kind"], edition["state"], edition["due_local"]) == (
        "once",
        "scheduled",
        "2099-12-01 07:00 UTC",
    )
    result = run(cli_env, "schedule", "cancel", "1")
    assert result.exit_code == 0, result.output
    assert "Cancelled edition 1 (morning 2099-12-01)." in result.output
    edition = listing(cli_env)["editions"][0]
    assert (edition["state"], edition["reason"]) == ("cancelled", "cancelled by an editor")
    assert "cancelled" in run(cli_env, "schedule", "list").output


def test_once_refuses_a_malformed_time(cli_env: dict[str, str], morning: Database) -> None:
    """--at must be a local date and time."""
    result = run(cli_env, "schedule", "once", "--publication", "morning", "--at", "tomorrow")
    assert result.exit_code == 2
    assert "--at: 'tomorrow' is not a local date and time" in result.output


def test_cancel_unknown_edition(cli_env: dict[str, str], morning: Database) -> None:
    """Cancelling an edition that does not exist says so and exits 2."""
    result = run(cli_env, "schedule", "cancel", "42")
    assert result.exit_code == 2
    assert "unknown edition 42" in result.output


def test_list_shows_missed_editions_and_why(cli_env: dict[str, str], morning: Database) -> None:
    """A missed edition is listed as missed with the freshness reason."""
    with morning.session() as session:
        pub = services.get_publication(session, "morning")
        pub.created_at = utcnow() - timedelta(days=1, hours=6)
        pub.send_time = time(0, 0) if utcnow().hour >= 4 else time(23, 59)
        claim.claim_due(session, utcnow(), window=timedelta(hours=3))
    assert "missed" in run(cli_env, "schedule", "list").output
    missed = [e for e in listing(cli_env)["editions"] if e["state"] == "missed"]
    assert missed
    assert missed[0]["reason"].startswith("not started within 3:00:00 of its time")


def test_list_with_nothing(cli_env: dict[str, str], database: Database) -> None:
    """With no publications the list says how to add one."""
    assert "No publications yet" in run(cli_env, "schedule", "list").output


def test_pause_and_resume(cli_env: dict[str, str], morning: Database) -> None:
    """pause stops editions (the list says so), resume starts them again."""
    result = run(cli_env, "publications", "pause", "morning")
    assert result.exit_code == 0
    assert "Paused morning" in result.output
    assert listing(cli_env)["schedules"][0]["paused"] is True
    assert "paused" in run(cli_env, "schedule", "list").output
    result = run(cli_env, "publications", "resume", "morning")
    assert result.exit_code == 0
    assert "Resumed morning" in result.output
    assert listing(cli_env)["schedules"][0]["paused"] is False


def test_send_now_schedules_today_and_wakes_the_scheduler(
    cli_env: dict[str, str], morning: Database, data_dir: Path
) -> None:
    """send-now adds today's edition due now and puts a tick on the (filesystem) broker."""
    result = run(cli_env, "digest", "send-now", "--publication", "morning")
    assert result.exit_code == 0, result.output
    assert "is due now (the scheduler was woken" in result.output
    assert listing(cli_env)["editions"][0]["kind"] == "now"
    assert list((data_dir / "broker" / "queue").iterdir())
    again = run(cli_env, "digest", "send-now", "--publication", "morning")
    assert again.exit_code == 2
    assert "already scheduled" in again.output


def test_send_now_without_a_broker_still_schedules(
    cli_env: dict[str, str], morning: Database
) -> None:
    """With the broker unreachable the edition is still scheduled and the beat will start it."""
    env = {**cli_env, "NEWSLETTER_BROKER_URL": "redis://127.0.0.1:1/0"}
    result = run(env, "digest", "send-now", "--publication", "morning")
    assert result.exit_code == 0, result.output
    assert "the next beat tick starts it" in result.output


def test_parsers() -> None:
    """Times and local date-times parse; anything else is refused naming the option."""
    assert parse_time("07:05") == time(7, 5)
    assert parse_at("2026-12-01T07:00").hour == 7
    with pytest.raises(InvalidInputError, match="--time"):
        parse_time("25:00")
    with pytest.raises(InvalidInputError, match="--at"):
        parse_at("2026-13-01 07:00")
