"""``newsletter digest ... --cadence weekly``: every command reaches the date's weekly roundup,
and a roundup the publication does not offer is refused naming the option, nothing made."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.policy import default
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlalchemy import update

from newsletter.content.edition import Cadence
from newsletter.db import Database
from subscribers.models import Subscription
from subscribers.services import ensure_default_list
from tests.cli import run, run_json
from tests.factories import make_briefings, make_publication
from tests.unit.newsletter.delivery.dispatch_factories import add_subscribers

MONDAY = ("--publication", "morning", "--date", "2026-03-02")
TUESDAY = ("--publication", "morning", "--date", "2026-03-03")
WEEKLY = ("--cadence", "weekly")
BASE = "https://news.example.org"


@pytest.fixture
def morning(database: Database) -> None:
    """'morning' offers a Monday roundup; two briefings of the week; two daily readers and one
    weekly (Monday) reader."""
    with database.session() as session:
        publication = make_publication(session, weekly_days=["mon"])
        make_briefings(session, 2, title="Bridges & <tunnels>")
        list_id = ensure_default_list(session, publication).id
        add_subscribers(session, list_id, 2)
        [weekly] = add_subscribers(session, list_id, 1, start=3, prefix="weekly")
        session.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == weekly)
            .values(cadence=Cadence.WEEKLY, weekly_day="mon")
        )


def outbox(data_dir: Path) -> dict[str, str]:
    """Each message of the outbox: its recipient and its subject."""
    found = {}
    for path in sorted((data_dir / "outbox").glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=default)
        found[parseaddr(str(message["To"]))[1]] = str(message["Subject"])
    return found


def test_send_and_report_reach_the_weekly_roundup(
    cli_env: dict[str, str], morning: None, data_dir: Path
) -> None:
    """``send --cadence weekly`` sends the roundup to the weekly reader only; ``report`` finds
    it; the daily edition of the same date stays its own, reached without the option."""
    sent = run(cli_env, "digest", "send", *MONDAY, *WEEKLY)
    assert sent.exit_code == 0, sent.output
    assert "morning weekly roundup 2026-03-02: sent — 1 sent, 0 failed" in sent.output
    assert list(outbox(data_dir)) == ["weekly3@example.org"]
    report = json.loads(run(cli_env, "digest", "report", *MONDAY, *WEEKLY, "--json").stdout)
    assert (report["cadence"], report["by_state"]) == ("weekly", {"accepted": 1})
    table = run(cli_env, "digest", "report", *MONDAY, *WEEKLY)
    assert "morning weekly roundup 2026-03-02: sent" in table.output
    # No daily edition of that date yet: the plain report does not fall back to the roundup.
    missing = run(cli_env, "digest", "report", *MONDAY)
    assert missing.exit_code == 2
    assert "--date: morning has no edition for 2026-03-02" in missing.output
    daily = run(cli_env, "digest", "send", *MONDAY)
    assert "morning 2026-03-02: sent — 2 sent" in daily.output
    assert sorted(outbox(data_dir)) == [
        "reader1@example.org",
        "reader2@example.org",
        "weekly3@example.org",
    ]
    again = run(cli_env, "digest", "resend", *MONDAY, *WEEKLY)
    assert again.exit_code == 0, again.output
    assert "Nothing to resend" in again.output
    rows = run_json(cli_env, "digest", "list", "--publication", "morning")
    assert sorted((r["edition_date"], r["cadence"], r["state"]) for r in rows) == [
        ("2026-03-02", "daily", "sent"),
        ("2026-03-02", "weekly", "sent"),
    ]
    listing = run(cli_env, "digest", "list", "--publication", "morning").stdout
    assert "2026-03-02 weekly" in listing


def test_publish_links_the_roundup_page(
    cli_env: dict[str, str], morning: None, data_dir: Path
) -> None:
    """``publish --cadence weekly`` prints and exports the roundup's own page, not the daily."""
    result = run(cli_env, "digest", "publish", *MONDAY, *WEEKLY)
    assert result.exit_code == 0, result.output
    assert f"Published {BASE}/p/morning/weekly/2026-03-02/ (" in result.stdout
    assert (data_dir / "public" / "p" / "morning" / "weekly" / "2026-03-02" / "index.html").exists()
    assert not (data_dir / "public" / "p" / "morning" / "2026-03-02").exists()


def test_assemble_preview_and_test_send_of_a_roundup(
    cli_env: dict[str, str], morning: None, data_dir: Path, tmp_path: Path
) -> None:
    """The roundup is previewed without being stored, assembled, and test-sent as itself."""
    out = tmp_path / "preview"
    previewed = run(cli_env, "digest", "preview", *MONDAY, *WEEKLY, "--out", str(out))
    assert previewed.exit_code == 0, previewed.output
    assert "Previewed morning weekly roundup 2026-03-02: rendered, 2 briefing(s)" in (
        previewed.stdout
    )
    assert "Bridges & <tunnels>" in (out / "email.txt").read_text()
    assert f"{BASE}/p/morning/weekly/2026-03-02/" in (out / "email.txt").read_text()
    assert run_json(cli_env, "digest", "list", "--publication", "morning") == []
    assembled = run(cli_env, "digest", "assemble", *MONDAY, *WEEKLY)
    assert assembled.stdout.startswith("Assembled morning weekly roundup 2026-03-02: assembled")
    tested = run(cli_env, "digest", "test-send", *MONDAY, *WEEKLY, "--to", "ed@example.org")
    assert tested.exit_code == 0, tested.output
    [(to, subject)] = outbox(data_dir).items()
    assert to == "ed@example.org"
    assert subject.startswith("[TEST] ")
    assert "weekly roundup" in subject.casefold()
    [row] = run_json(cli_env, "digest", "list", "--publication", "morning")
    assert (row["cadence"], row["state"]) == ("weekly", "rendered")


@pytest.mark.parametrize(
    "command",
    [
        ("assemble",),
        ("publish",),
        ("send",),
        ("test-send", "--to", "ed@example.org"),
    ],
)
def test_a_roundup_on_a_day_not_offered_is_refused(
    cli_env: dict[str, str], morning: None, data_dir: Path, command: tuple[str, ...]
) -> None:
    """Tuesday is not a roundup day: one line naming --cadence, exit 2, nothing assembled."""
    result = run(cli_env, "digest", command[0], *TUESDAY, *WEEKLY, *command[1:])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: --cadence weekly: morning offers no weekly roundup on tue "
        "(2026-03-03; weekly days: mon)"
    )
    assert run_json(cli_env, "digest", "list", "--publication", "morning") == []
    assert outbox(data_dir) == {}


def test_missing_roundup_and_bad_cadence_name_the_option(
    cli_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    """A roundup never made, an unknown cadence, and a preview of a publication without
    roundups each answer one line naming the option."""
    with database.session() as session:
        make_publication(session)
    missing = run(cli_env, "digest", "report", *MONDAY, *WEEKLY)
    assert missing.exit_code == 2
    assert missing.stderr.strip() == (
        "Error: --date, --cadence weekly: morning has no weekly roundup for 2026-03-02"
    )
    resend = run(cli_env, "digest", "resend", *MONDAY, *WEEKLY)
    assert resend.exit_code == 2
    assert "--cadence weekly" in resend.stderr
    bad = run(cli_env, "digest", "report", *MONDAY, "--cadence", "monthly")
    assert bad.exit_code == 2
    assert "'--cadence'" in bad.stderr
    assert "'monthly' is not one of 'daily', 'weekly'" in bad.stderr
    out = tmp_path / "preview"
    preview = run(
        cli_env, "digest", "preview", "--publication", "morning", *WEEKLY, "--out", str(out)
    )
    assert preview.exit_code == 2
    assert preview.stderr.strip() == (
        "Error: --cadence weekly: morning offers no weekly roundup (weekly days: none)"
    )
    assert not out.exists()
