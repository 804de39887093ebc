"""``newsletter digest report`` prints the breakdown by variant and zone group."""

from __future__ import annotations

from datetime import UTC, datetime

from newsletter.db import Database
from newsletter.delivery.models import BatchState, DeliveryState
from newsletter.digests.models import DigestState
from tests.cli import run, run_json
from tests.unit.newsletter.delivery.variant_factories import (
    Group,
    published_edition,
    variant_of,
    write_ledger,
)

D = DeliveryState
B = BatchState
DATE = ("--publication", "morning", "--date", "2026-03-02")
TOKYO = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
NEW_YORK = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _ledger(database: Database) -> dict[str, str]:
    with database.session() as session:
        published = published_edition(session, local_delivery=True, state=DigestState.SENDING)
        climate = published.variants["Climate"]
        # Display text comes from briefings: a hostile one must print as text.
        variant_of(session, published.variants["Transport"]).topics = ["[bold]Tr\x1b[31mams"]
        write_ledger(
            session,
            published.digest_id,
            [
                Group(
                    TOKYO,
                    ("Asia/Tokyo",),
                    ((None, D.DELIVERED, B.ACCEPTED), (climate, D.DELIVERED, B.ACCEPTED)),
                ),
                Group(NEW_YORK, ("America/New_York",), ((climate, D.QUEUED, B.PLANNED),)),
            ],
            skipped=1,
        )
        return published.keys


def test_report_prints_variants_and_zone_groups(
    cli_env: dict[str, str], database: Database
) -> None:
    """The table names each variant and each zone group with its local time and state."""
    keys = _ledger(database)
    result = run({**cli_env, "COLUMNS": "160"}, "digest", "report", *DATE)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "morning 2026-03-02: sending — 2 sent, 0 failed, 1 skipped." in text
    assert "By variant" in text
    assert "Full edition" in text
    assert "Climate" in text
    assert keys["Climate"] in text
    assert "[bold]Tr" in text  # printed as text, not as markup
    assert "\x1b" not in text  # control sequences never reach the terminal
    assert "Tr\\x1b[31mams" in text
    assert "By zone group" in text
    assert "2026-03-01 22:00" in text
    assert "Asia/Tokyo 07:00" in text
    assert "America/New_York 07:00" in text
    assert "waiting" in text


def test_report_json_has_the_breakdowns(cli_env: dict[str, str], database: Database) -> None:
    """``--json`` carries cadence, variants and zone groups."""
    keys = _ledger(database)
    data = run_json(cli_env, "digest", "report", *DATE)
    assert data["cadence"] == "daily"
    assert {v["key"]: v["readers"] for v in data["variants"]}[keys["Climate"]] == 2
    assert [g["state"] for g in data["zone_groups"]] == ["sent", "waiting"]
