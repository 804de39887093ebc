"""The back office shows an alert among the editions and reports it as an alert."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from newsletter.db import Database
from newsletter.editors.models import Role
from newsletter.providers.memory import MemorySender
from tests.unit.newsletter.backoffice.conftest import Accounts
from tests.unit.newsletter.pipeline.test_alert_report import send_alert


@pytest.fixture
def sent(db: Database, mailbox: MemorySender) -> int:
    """An alert sent to five readers; its digest id."""
    return send_alert(db, mailbox)[0]


def test_the_back_office_lists_and_reports_it(
    client: TestClient,
    accounts: Accounts,
    signed_in: Callable[[Role], str],
    sent: int,
) -> None:
    """The editions list marks the alert; its report page and API report say what it is."""
    signed_in(Role.EDITOR)
    listing = client.get("/editor/editions?publication=morning").text
    assert '<span class="chip">alert</span>' in listing
    page = client.get(f"/editor/editions/{sent}").text
    assert "The Morning Test, alert" in page
    assert "Alert: only readers who opted into alerts" in page
    api = client.get(f"/api/digests/{sent}/report", headers=accounts.bearer(Role.EDITOR))
    assert api.status_code == 200
    assert api.json()["cadence"] == "alert"
    assert api.json()["sent"] == 5
