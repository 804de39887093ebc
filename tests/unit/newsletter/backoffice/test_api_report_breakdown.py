"""``GET /api/digests/{id}/report`` carries the edition's cadence and its breakdown by variant
and zone group (the same numbers as the report page), as its OpenAPI document describes."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from newsletter.db import Database
from newsletter.delivery.models import BatchState, DeliveryState
from newsletter.digests.models import DigestState
from newsletter.editors.models import Role
from tests.unit.newsletter.backoffice.conftest import Accounts
from tests.unit.newsletter.delivery.variant_factories import (
    DAY,
    Group,
    published_edition,
    variant_of,
    weekly_copy,
    write_ledger,
)

D = DeliveryState
B = BatchState
TOKYO = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
LONDON = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def test_report_api_breaks_down_by_variant_and_zone_group(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """Each version with its readers and states; each zone group with its local times."""
    with db.session() as session:
        published = published_edition(session, local_delivery=True, state=DigestState.SENDING)
        climate = published.variants["Climate"]
        variant_of(session, published.variants["Transport"]).topics = ["<b>Trams</b>"]
        write_ledger(
            session,
            published.digest_id,
            [
                Group(
                    TOKYO,
                    ("Asia/Tokyo",),
                    ((None, D.DELIVERED, B.ACCEPTED), (climate, D.FAILED, B.FAILED)),
                ),
                Group(LONDON, ("Europe/London",), ((climate, D.SCHEDULED, B.SCHEDULED),)),
            ],
            skipped=1,
        )
    response = client.get(
        f"/api/digests/{published.digest_id}/report", headers=accounts.bearer(Role.EDITOR)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["cadence"] == "daily"
    by_key = {row["key"]: row for row in body["variants"]}
    full = by_key[None]
    assert (full["readers"], full["sent"], full["failed"], full["briefings"]) == (1, 1, 0, 4)
    climate_row = by_key[published.keys["Climate"]]
    assert climate_row["topics"] == ["Climate"]
    assert (climate_row["readers"], climate_row["sent"], climate_row["failed"]) == (2, 0, 1)
    assert climate_row["by_state"] == {"failed": 1, "scheduled": 1}
    # Topic names are data: the JSON carries them as written, never interpreted.
    assert by_key[published.keys["Transport"]]["topics"] == ["<b>Trams</b>"]
    groups = body["zone_groups"]
    assert [g["deliver_at"] for g in groups] == [TOKYO.isoformat(), LONDON.isoformat()]
    assert groups[0]["zones"] == ["Asia/Tokyo"]
    assert groups[0]["local_times"] == {"Asia/Tokyo": "2026-03-02T07:00:00+09:00"}
    assert (groups[0]["readers"], groups[0]["state"]) == (2, "partially_failed")
    assert (groups[1]["readers"], groups[1]["state"]) == (1, "scheduled")
    assert body["skipped"] == 1
    assert body["by_reason"] == {"no_matching_topic": 1}


def test_report_api_names_a_weekly_roundup(
    client: TestClient, db: Database, accounts: Accounts
) -> None:
    """A roundup's report says ``weekly``; with no ledger it has no variant or zone rows."""
    with db.session() as session:
        published = published_edition(session, choices=())
        weekly_id = weekly_copy(session, published.digest_id, DAY).id
    body = client.get(
        f"/api/digests/{weekly_id}/report", headers=accounts.bearer(Role.EDITOR)
    ).json()
    assert body["cadence"] == "weekly"
    assert body["zone_groups"] == []
    assert all(row["readers"] == 0 for row in body["variants"])


def test_report_schema_documents_the_breakdown(client: TestClient) -> None:
    """The OpenAPI document describes cadence, variants and zone groups of a report."""
    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    report = schemas["ReportOut"]["properties"]
    assert {"cadence", "variants", "zone_groups"} <= set(report)
    assert {"key", "topics", "readers", "by_state"} <= set(schemas["VariantOut"]["properties"])
    assert {"deliver_at", "zones", "local_times", "state"} <= set(
        schemas["ZoneGroupOut"]["properties"]
    )
