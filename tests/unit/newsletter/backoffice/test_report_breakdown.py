"""The edition report page breaks an edition down by variant, zone group and cadence."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from newsletter.db import Database
from newsletter.delivery.models import BatchState, Delivery, DeliveryState
from newsletter.digests.models import DigestState
from newsletter.editors.models import Role
from tests.unit.newsletter.delivery.variant_factories import (
    DAY,
    Group,
    published_edition,
    variant_of,
    weekly_copy,
    write_ledger,
)

SignIn = Callable[[Role], str]
D = DeliveryState
B = BatchState
TOKYO = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
LONDON = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def _rows(page: str, heading_id: str) -> list[str]:
    """The text of each body row of the table labelled by ``heading_id``, tags removed."""
    table = page.split(f'aria-labelledby="{heading_id}"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def test_report_page_shows_variants_and_zone_groups(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Each variant with its readers and page; each zone group with local times and state."""
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
                Group(
                    LONDON,
                    ("Europe/Dublin", "Europe/London"),
                    ((climate, D.SCHEDULED, B.SCHEDULED),),
                ),
            ],
            skipped=1,
        )
    signed_in(Role.EDITOR)
    page = client.get(f"/editor/editions/{published.digest_id}").text
    assert "Daily edition: only daily readers" in page
    assert "In 2 zone groups" in page
    variants = _rows(page, "variants")
    key = published.keys["Climate"]
    assert variants[0].startswith("Full edition")
    assert variants[0].endswith("4 1 1 0 0")
    assert variants[1].startswith(f"Climate {key}")
    assert variants[1].endswith("2 2 0 1 0")
    assert "&lt;b&gt;Trams&lt;/b&gt;" in page
    assert "<b>Trams" not in page
    assert f'href="https://news.example.org/p/morning/{DAY}/for/{key}/">web page</a>' in page
    assert f'href="https://news.example.org/p/morning/{DAY}/">web page</a>' in page
    groups = _rows(page, "zone-groups")
    assert groups == [
        "2026-03-01 22:00 Asia/Tokyo Mon 07:00 2 1 1 partially failed",
        "2026-03-02 07:00 Europe/Dublin Mon 07:00 Europe/London Mon 07:00 1 0 0 scheduled",
    ]


def test_report_of_an_unpublished_weekly_roundup(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A roundup says so; the editions list marks it; no variant table for one version."""
    with db.session() as session:
        published = published_edition(session, choices=())
        weekly_id = weekly_copy(session, published.digest_id, DAY).id
    signed_in(Role.EDITOR)
    page = client.get(f"/editor/editions/{weekly_id}").text
    assert f"weekly roundup {DAY}" in page
    assert "Weekly roundup: only weekly readers of this weekday" in page
    assert 'id="variants"' not in page
    assert 'id="zone-groups"' not in page
    listing = client.get("/editor/editions?publication=morning").text
    assert listing.count('<span class="chip">weekly roundup</span>') == 1


def test_report_page_and_api_count_late_recipients(
    client: TestClient, db: Database, signed_in: SignIn, accounts: Any
) -> None:
    """Readers caught up after the send (``late``) are named on the page and in the API."""
    with db.session() as session:
        published = published_edition(session, choices=(), state=DigestState.SENDING)
        write_ledger(
            session,
            published.digest_id,
            [Group(LONDON, ("Europe/London",), ((None, D.DELIVERED, B.ACCEPTED),) * 3)],
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(select(func.min(Delivery.id)).scalar_subquery()))
            .values(late=True)
        )
    signed_in(Role.EDITOR)
    page = client.get(f"/editor/editions/{published.digest_id}").text
    assert "Late recipients" in page
    assert "1 confirmed after the send and got it while fresh (1 sent)" in page
    api = client.get(
        f"/api/digests/{published.digest_id}/report", headers=accounts.bearer(Role.EDITOR)
    ).json()
    assert (api["late"], api["late_sent"]) == (1, 1)
