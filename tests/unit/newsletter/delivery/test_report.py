"""An edition's final state tells the truth about its recipients, and the report counts them."""

from __future__ import annotations

import pytest

from newsletter.db import Database
from newsletter.delivery.report import delivery_report, final_state, finalise
from newsletter.digests.models import DigestState
from newsletter.pipeline.dispatch import dispatch
from newsletter.pipeline.steps import plan
from newsletter.providers.memory import MemorySender
from tests.unit.newsletter.delivery.dispatch_factories import (
    BASE_URL,
    NOW,
    edition_with_readers,
    tokens,
)


@pytest.mark.parametrize(
    ("sent", "failed", "state"),
    [
        (10, 0, DigestState.SENT),
        (0, 0, DigestState.SENT),
        (9, 1, DigestState.PARTIALLY_FAILED),
        (0, 4, DigestState.FAILED),
    ],
)
def test_final_state(sent: int, failed: int, state: DigestState) -> None:
    """Sent only when nothing failed, failed when nothing went out, partly failed otherwise."""
    assert final_state(sent, failed) is state


def test_not_final_while_batches_are_open(database: Database) -> None:
    """An edition with a batch still planned keeps sending; a non-sending one is left alone."""
    digest_id, _ = edition_with_readers(database, 2)
    with database.session() as session:
        assert finalise(session, digest_id) is None  # rendered, not sending
    plan(database, digest_id, clock=lambda: NOW)
    with database.session() as session:
        assert finalise(session, digest_id) is None
        report = delivery_report(session, digest_id)
    assert report.state == "sending"
    assert report.batches == {"planned": 1}
    assert report.by_state == {"queued": 2}


def test_report_as_dict_counts_everything(database: Database) -> None:
    """The JSON report carries totals, per-state and per-reason counts, opens and clicks."""
    digest_id, _ = edition_with_readers(database, 3)
    dispatch(database, digest_id, MemorySender(), base_url=BASE_URL, tokens=tokens())
    with database.session() as session:
        data = delivery_report(session, digest_id).as_dict()
    assert data["state"] == "sent"
    assert (data["recipients"], data["sent"], data["failed"], data["skipped"]) == (3, 3, 0, 0)
    assert data["by_state"] == {"accepted": 3}
    assert data["edition_date"] == "2026-03-02"
    assert (data["opened"], data["clicked"]) == (0, 0)
