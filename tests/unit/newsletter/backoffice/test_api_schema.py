"""Property-based run of the REST API against its own OpenAPI document (schemathesis, in-process).

Every operation is called as an admin with generated inputs: no answer may be a 5xx,
and every answer must have a documented status, content type and body shape. The
send-now, mailing-list and publication-settings operations are also called on the
seeded publication, where random slugs would never reach, so their success and
refusal answers are checked against the schema too.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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
    "POST /api/lists": [
        ({}, {"publication": "morning", "slug": "weekend", "name": "Weekend"}, 201),
        ({}, {"publication": "morning", "slug": "weekend", "name": "Again"}, 400),
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
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


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
    assert len(operations) >= 19
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

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            case.call_and_validate(headers=admin_header, checks=CHECKS)

        call()
