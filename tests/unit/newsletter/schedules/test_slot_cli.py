"""``schedule slot add|list|remove`` and ``--slot`` on the digest and schedule commands."""

from __future__ import annotations

from datetime import timedelta

import pytest

import newsletter.cli  # noqa: F401  (first: the root CLI imports every feature's commands)
from newsletter.db import Database, utcnow
from newsletter.digests.assembly import local_today
from tests.cli import run, run_json
from tests.factories import make_briefing
from tests.unit.newsletter.schedules import seed

ADD = ("schedule", "slot", "add", "--publication", "morning")


@pytest.fixture
def morning(database: Database) -> Database:
    """Publication 'morning' (UTC, created a minute ago), no briefings yet."""
    with database.session() as session:
        seed.publication(session, briefings=0, created=utcnow() - timedelta(minutes=1))
    return database


def add(env: dict[str, str], name: str, at: str, *extra: str) -> str:
    result = run(env, *ADD, "--name", name, "--time", at, "--days", "daily", *extra)
    assert result.exit_code == 0, result.output
    return result.output


def test_slots_are_added_listed_and_removed(cli_env: dict[str, str], morning: Database) -> None:
    """Each slot prints its next editions; list shows them; the schedule names them."""
    output = add(cli_env, "morning", "07:00", "--cutoff", "30")
    assert "morning has a slot 'morning': 07:00 UTC on mon,tue,wed,thu,fri,sat,sun" in output
    assert output.count("next:") == 3
    assert all("(morning)" in line for line in output.splitlines() if "next:" in line)
    add(cli_env, "evening", "18:00")
    assert run_json(cli_env, "schedule", "slot", "list", "--publication", "morning") == [
        {"name": "morning", "time": "07:00", "weekdays": list(seed.ALL_DAYS), "cutoff_minutes": 30},
        {"name": "evening", "time": "18:00", "weekdays": list(seed.ALL_DAYS), "cutoff_minutes": 0},
    ]
    table = run(cli_env, "schedule", "slot", "list", "--publication", "morning").output
    assert "evening" in table
    assert "30 min" in table
    schedule = run_json(cli_env, "schedule", "list")["schedules"][0]
    assert {e["slot"] for e in schedule["upcoming"]} == {"morning", "evening"}
    assert "morning 07:00" in run(cli_env, "schedule", "list").output
    removed = run(
        cli_env, "schedule", "slot", "remove", "--publication", "morning", "--name", "evening"
    )
    assert removed.exit_code == 0, removed.output
    assert "Removed slot 'evening' of morning (1 slot(s) left)." in removed.output
    last = run(
        cli_env, "schedule", "slot", "remove", "--publication", "morning", "--name", "morning"
    )
    assert "back to its main schedule" in last.output
    empty = run(cli_env, "schedule", "slot", "list", "--publication", "morning").output
    assert "has no named slots" in empty


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--name", "Evening", "--time", "18:00", "--days", "mon"), "--name: 'Evening'"),
        (("--name", "late", "--time", "6pm", "--days", "mon"), "--time: '6pm'"),
        (("--name", "late", "--time", "18:00", "--days", "someday"), "--days"),
        (("--name", "late", "--time", "18:00", "--days", "mon", "--cutoff", "-1"), "--cutoff"),
        (("--name", "early", "--time", "07:00", "--days", "mon"), "--time: 'early' (07:00 mon"),
        (("--name", "morning", "--time", "12:00", "--days", "mon"), "--name: morning already"),
    ],
)
def test_bad_slots_are_refused_with_the_option_named(
    cli_env: dict[str, str], morning: Database, args: tuple[str, ...], message: str
) -> None:
    """One line naming the option, exit 2, nothing added."""
    add(cli_env, "morning", "07:00")
    result = run(cli_env, *ADD, *args)
    assert result.exit_code == 2
    assert message in result.output
    names = run_json(cli_env, "schedule", "slot", "list", "--publication", "morning")
    assert [slot["name"] for slot in names] == ["morning"]


def test_digest_commands_take_a_slot(cli_env: dict[str, str], morning: Database) -> None:
    """assemble --slot freezes that slot's edition with the briefings approved before its
    cut-off; list and report name it; an unknown slot is refused naming --slot."""
    add(cli_env, "morning", "00:01")
    add(cli_env, "evening", "23:58", "--cutoff", "5")
    today = local_today(utcnow(), "UTC")
    with morning.session() as session:
        make_briefing(session, slug="early", approved_at=utcnow() - timedelta(days=2))
    result = run(cli_env, "digest", "assemble", "--publication", "morning", "--slot", "evening")
    assert result.exit_code == 0, result.output
    assert f"Assembled morning {today.isoformat()} (evening): assembled, 1 briefing(s)" in (
        result.output
    )
    again = run(cli_env, "digest", "assemble", "--publication", "morning", "--slot", "morning")
    assert "(morning): skipped" in again.output  # "early" is in the evening's edition already
    rows = run_json(cli_env, "digest", "list", "--publication", "morning")
    assert sorted(row["slot"] for row in rows) == ["evening", "morning"]
    assert "evening" in run(cli_env, "digest", "list", "--publication", "morning").output
    report = run(cli_env, "digest", "report", "--publication", "morning", "--slot", "evening")
    assert report.exit_code == 0, report.output
    assert f"morning {today.isoformat()} (evening): assembled" in report.output
    reported = run_json(
        cli_env, "digest", "report", "--publication", "morning", "--slot", "evening"
    )
    assert reported["slot"] == "evening"
    missing = run(cli_env, "digest", "report", "--publication", "morning", "--slot", "noon")
    assert missing.exit_code == 2
    assert f"--date, --slot: morning has no edition for {today.isoformat()} (noon)" in (
        missing.output
    )
    unknown = run(cli_env, "digest", "assemble", "--publication", "morning", "--slot", "noon")
    assert unknown.exit_code == 2
    assert "--slot: morning has no slot 'noon' (its slots: morning, evening)" in unknown.output
    weekly = run(
        cli_env,
        "digest",
        "assemble",
        "--publication",
        "morning",
        "--slot",
        "evening",
        "--cadence",
        "weekly",
    )
    assert "--slot: a weekly roundup belongs to the main schedule" in weekly.output


def test_once_and_send_now_take_a_slot(cli_env: dict[str, str], morning: Database) -> None:
    add(cli_env, "evening", "18:00")
    result = run(
        cli_env,
        "schedule",
        "once",
        "--publication",
        "morning",
        "--at",
        "2099-12-01 19:00",
        "--slot",
        "evening",
    )
    assert result.exit_code == 0, result.output
    assert "Scheduled edition 1: morning 2099-12-01 (evening) at 2099-12-01 19:00 UTC." in (
        result.output
    )
    edition = run_json(cli_env, "schedule", "list")["editions"][0]
    assert (edition["slot"], edition["kind"]) == ("evening", "once")
    refused = run(
        cli_env,
        "schedule",
        "once",
        "--publication",
        "morning",
        "--at",
        "2099-12-01 19:00",
        "--slot",
        "evening",
        "--cadence",
        "weekly",
    )
    assert refused.exit_code == 2
