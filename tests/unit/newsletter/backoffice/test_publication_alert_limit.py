"""The back office settings form and the API set a publication's ``alerts_per_day``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from newsletter.db import Database
from newsletter.editors.models import Role
from newsletter.publications.services import get_publication
from tests.factories import make_publication
from tests.unit.newsletter.backoffice.conftest import Accounts
from tests.unit.newsletter.backoffice.test_publication_views import _settings_form


def test_the_settings_form_and_the_api_set_it(
    client: TestClient,
    db: Database,
    signed_in: Callable[[Role], str],
    accounts: Accounts,
) -> None:
    """The back office form shows and saves it; the API's PATCH changes it too."""
    with db.session() as session:
        make_publication(session)
    token = signed_in(Role.ADMIN)
    form = client.get("/editor/publications/morning").text
    assert 'name="alerts_per_day"' in form
    saved = client.post(
        "/editor/publications/morning", data=_settings_form(token, alerts_per_day="7")
    )
    assert saved.status_code == 303
    with db.session() as session:
        assert get_publication(session, "morning").alerts_per_day == 7
    bad = client.post(
        "/editor/publications/morning", data=_settings_form(token, alerts_per_day="many")
    )
    assert bad.status_code == 400
    assert "Alerts a day" in bad.text
    patched = client.patch(
        "/api/publications/morning",
        json={"alerts_per_day": 1},
        headers=accounts.bearer(Role.ADMIN),
    )
    assert patched.status_code == 200, patched.text
    with db.session() as session:
        assert get_publication(session, "morning").alerts_per_day == 1
