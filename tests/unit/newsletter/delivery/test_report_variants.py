"""The report breaks an edition down by variant, by zone group, and says its cadence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsletter.db import Database
from newsletter.delivery.models import BatchState, DeliveryState
from newsletter.delivery.report import ZoneGroupRow, delivery_report
from tests.unit.newsletter.delivery.variant_factories import (
    DAY,
    Group,
    published_edition,
    weekly_copy,
    write_ledger,
)

D = DeliveryState
B = BatchState
TOKYO = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)  # 07:00 on the 2nd in Asia/Tokyo
LONDON = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
NEW_YORK = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(any_database: Database) -> Database:
    """SQLite, then PostgreSQL."""
    return any_database


def test_breakdown_by_variant_and_zone_group(db: Database) -> None:
    """Each recipient counts in one variant row and one zone group; skips only as reasons."""
    with db.session() as session:
        published = published_edition(session)
        climate, transport = published.variants["Climate"], published.variants["Transport"]
        write_ledger(
            session,
            published.digest_id,
            [
                Group(
                    TOKYO,
                    ("Asia/Tokyo",),
                    ((None, D.DELIVERED, B.ACCEPTED), (climate, D.FAILED, B.FAILED)),
                ),
                Group(
                    LONDON,
                    ("Europe/Dublin", "Europe/London"),
                    ((climate, D.SCHEDULED, B.SCHEDULED), (transport, D.SCHEDULED, B.SCHEDULED)),
                ),
                Group(
                    NEW_YORK,
                    ("America/New_York",),
                    ((None, D.QUEUED, B.PLANNED), (climate, D.QUEUED, B.PLANNED)),
                ),
            ],
            skipped=2,
        )
    with db.session() as session:
        report = delivery_report(session, published.digest_id)
    assert report.cadence == "daily"
    assert (report.recipients, report.skipped) == (6, 2)
    assert report.by_reason == {"no_matching_topic": 2}

    rows = {row.label: row for row in report.variants}
    assert list(rows) == ["Full edition", "Climate", "Transport", "Harbour & Docks"]
    full, clim = rows["Full edition"], rows["Climate"]
    assert (full.key, full.briefings, full.readers, full.sent, full.failed) == (None, 4, 2, 1, 0)
    assert full.by_state == {"queued": 1, "delivered": 1}
    assert (clim.key, clim.briefings, clim.readers, clim.failed, clim.skipped) == (
        published.keys["Climate"],
        2,
        3,
        1,
        0,
    )
    assert clim.topics == ("Climate",)
    assert rows["Harbour & Docks"].readers == 0  # rendered, nobody got it in this ledger
    assert sum(row.readers for row in report.variants) == report.recipients

    tokyo, london, new_york = report.zone_groups
    assert [g.deliver_at for g in report.zone_groups] == [TOKYO, LONDON, NEW_YORK]
    assert (tokyo.readers, tokyo.sent, tokyo.failed, tokyo.state) == (2, 1, 1, "partially_failed")
    assert (london.zones, london.state) == (("Europe/Dublin", "Europe/London"), "scheduled")
    assert new_york.state == "waiting"
    assert new_york.batches == {"planned": 2}
    assert [(z, t.strftime("%H:%M %Z")) for z, t in tokyo.local_times()] == [
        ("Asia/Tokyo", "07:00 JST")
    ]
    assert [t.strftime("%H:%M") for _, t in new_york.local_times()] == ["07:00"]

    data = report.as_dict()
    assert data["cadence"] == "daily"
    assert [v["key"] for v in data["variants"]][:2] == [None, published.keys["Climate"]]
    assert data["variants"][1]["readers"] == 3
    assert data["zone_groups"][0] == {
        "deliver_at": "2026-03-01T22:00:00+00:00",
        "zones": ["Asia/Tokyo"],
        "local_times": {"Asia/Tokyo": "2026-03-02T07:00:00+09:00"},
        "readers": 2,
        "state": "partially_failed",
        "sent": 1,
        "failed": 1,
        "batches": {"accepted": 1, "failed": 1},
        "by_state": {"delivered": 1, "failed": 1},
    }


def test_an_edition_without_variants_or_zone_groups(db: Database) -> None:
    """Sent by hand to everyone: one full-edition row, no zone groups."""
    with db.session() as session:
        published = published_edition(session, choices=())
        digest_id = published.digest_id
    with db.session() as session:
        report = delivery_report(session, digest_id)
    assert [(row.key, row.readers) for row in report.variants] == [(None, 0)]
    assert report.zone_groups == ()
    assert report.as_dict()["zone_groups"] == []


def test_a_weekly_roundup_says_so(db: Database) -> None:
    """The report of a roundup has cadence weekly and its own variants."""
    with db.session() as session:
        published = published_edition(session, choices=())
        weekly = weekly_copy(session, published.digest_id, DAY)
        weekly_id = weekly.id
        write_ledger(
            session, weekly_id, [Group(LONDON, ("UTC",), ((None, D.ACCEPTED, B.ACCEPTED),))]
        )
    with db.session() as session:
        report = delivery_report(session, weekly_id)
    assert report.cadence == "weekly"
    assert report.as_dict()["cadence"] == "weekly"
    assert [(row.label, row.readers, row.briefings) for row in report.variants] == [
        ("Full edition", 1, 4)
    ]
    assert report.zone_groups[0].state == "sent"


@pytest.mark.parametrize(
    ("batches", "by_state", "state"),
    [
        ({}, {}, "waiting"),
        ({"planned": 3}, {"queued": 9}, "waiting"),
        ({"planned": 1, "accepted": 1}, {"queued": 1, "accepted": 1}, "sending"),
        ({"sending": 1}, {"claimed": 3}, "sending"),
        ({"unknown": 1, "scheduled": 1}, {"claimed": 1, "scheduled": 1}, "sending"),
        ({"scheduled": 2}, {"scheduled": 5}, "scheduled"),
        ({"accepted": 2}, {"delivered": 5}, "sent"),
        ({"failed": 2}, {"failed": 5}, "failed"),
    ],
)
def test_zone_group_state(batches: dict[str, int], by_state: dict[str, int], state: str) -> None:
    """A group waits until claimed, is scheduled while held, then takes its final state."""
    row = ZoneGroupRow(LONDON, ("Europe/London",), 5, batches, by_state)
    assert row.state == state


def test_unknown_zone_shows_utc() -> None:
    """A zone this machine does not know is shown at the UTC instant rather than failing."""
    row = ZoneGroupRow(LONDON, ("Mars/Olympus",), 1)
    assert row.local_times() == [("Mars/Olympus", LONDON)]
