"""Property-based run of the REST API against its own OpenAPI document (schemathesis, in-process).

Every operation (the public ``POST /api/subscribe`` included) is called as an admin
with generated inputs under every schemathesis check but ``object_level_authorization``
(one admin sees everything by design): no answer may be a 5xx; every answer has a
documented status, content type, headers and body shape; invalid data is refused; a
missing or wrong token is refused; a wrong method is a 405 with a true ``Allow``; a
deleted resource stays gone; and data the schema allows is accepted
(``positive_data_acceptance``: a 2xx, or 404/409 for what depends on the state), but
for the operations in ``SERVER_SIDE_RULES``. The document is read after the database
is seeded, so it names the seeded publication, its list and topics as enums. The
send-now, mailing-list and publication-settings operations are also called with chosen
bodies, so their success and refusal answers are checked against the schema too."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.core import NOT_SET

from newsletter.db import Database
from newsletter.editors.models import Role
from tests.factories import make_briefing, make_publication
from tests.unit.newsletter.backoffice.conftest import Accounts

MAX_EXAMPLES = 20  # per operation: the whole run stays well under a minute
NEW_OPERATIONS = {
    "POST /api/publications/{slug}/send-now": [
        ({"slug": "morning"}, None, 201),
        ({"slug": "morning"}, None, 409),
    ],
    "GET /api/lists": [({}, None, 200)],
    "POST /api/subscribe": [({}, {"email": "reader@example.org", "list": "nowhere"}, 404)],
    "POST /api/lists": [
        ({}, {"publication": "morning", "slug": "weekend", "name": "Weekend"}, 201),
        ({}, {"publication": "morning", "slug": "weekend", "name": "Again"}, 409),
    ],
    "PUT /api/lists/{slug}/opt-in": [
        ({"slug": "weekend"}, {"double_opt_in": False}, 200),
        ({"slug": "nowhere"}, {"double_opt_in": True}, 404),
    ],
    "PATCH /api/publications/{slug}": [
        ({"slug": "morning"}, {"tagline": "Checked against the schema"}, 200),
        ({"slug": "morning"}, {"from_email": "nobody"}, 400),
    ],
}
load_all_checks()
# One admin sees everything by design: there is no other user's object to reach.
CHECKS = [check for check in REGISTRY.get_all() if check.__name__ != "object_level_authorization"]
# Operations whose schema-valid requests the server may still refuse by a rule that
# lives server-side (docs/security.md, "What the OpenAPI document states"): every other
# operation must accept what its schema allows (positive_data_acceptance).
SERVER_SIDE_RULES = {
    # expires after embargo (two fields), integral floats for strict integers, and the
    # text/plain form (a format of its own, not a JSON Schema)
    "POST /api/briefings",
    "PUT /api/briefings/{slug}",
    # a title derived from the text must be confirmed (the briefing's state)
    "POST /api/briefings/{slug}/approve",
    # integral floats (341391.0) for strict integers
    "POST /api/publications",
}
BASE_CHECKS = [check for check in CHECKS if check.__name__ != "positive_data_acceptance"]


def checks_of(label: str) -> list[Any]:
    """Every check, but positive data acceptance where a server-side rule remains."""
    return BASE_CHECKS if label in SERVER_SIDE_RULES else CHECKS


@pytest.fixture
def admin_header(accounts: Accounts) -> dict[str, str]:
    """The admin's bearer token header."""
    return accounts.bearer(Role.ADMIN)


@pytest.mark.slow
def test_api_answers_within_its_schema(
    app: FastAPI, db: Database, admin_header: dict[str, str]
) -> None:
    """Generated requests never get a 5xx or an answer the OpenAPI document does not describe."""
    with db.session() as session:
        make_publication(session)
        make_briefing(session, slug="story")
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    assert len(CHECKS) >= 13  # every check schemathesis has, but object_level_authorization
    by_label = {operation.label: operation for operation in operations}
    assert set(NEW_OPERATIONS) <= set(by_label)

    for label, calls in NEW_OPERATIONS.items():
        for path_parameters, body, status in calls:
            case = by_label[label].Case(
                path_parameters=path_parameters,
                body=body if body is not None else NOT_SET,
                media_type="application/json" if body is not None else None,
            )
            response = case.call_and_validate(headers=admin_header, checks=CHECKS)
            assert response.status_code == status, (label, response.text)

    for operation in operations:
        fuzz(operation, admin_header, checks_of(operation.label))


def fuzz(operation: Any, headers: dict[str, str], checks: list[Any]) -> None:
    """``MAX_EXAMPLES`` generated calls of ``operation``, each under ``checks``."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    call()
