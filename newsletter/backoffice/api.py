"""The REST API under ``/api/``: briefings, publications, schedules, editions and reports.

Every endpoint needs ``Authorization: Bearer <token>`` (``newsletter editors token``):
editors review and approve, publishers also schedule and test-send, admins also
manage publications and accounts. Refusals are JSON ``{"error", "status"}`` with a
message naming the field at fault; the OpenAPI document at ``/api/openapi.json``
declares every answer, and ``/api/docs`` shows it as a page.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.orm import Session

from newsletter.backoffice import (
    api_accounts,
    api_admin,
    api_alerts,
    api_briefings,
    api_deployment,
    api_docs,
    api_editions,
    api_publications,
    api_schedules,
)
from newsletter.backoffice import schemas as s
from newsletter.briefings.jsonform import BriefingInput
from newsletter.templating import environment
from newsletter.web.deps import runtime_of
from subscribers.signup_views import SubscribeIn

SUBSCRIBE_PATH = "/api/subscribe"

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": s.ErrorBody, "description": text}
    for code, text in {
        400: "The request names something invalid or conflicting",
        401: "No valid API token",
        403: "The token's editor lacks the role",
        404: "Not found",
        409: "The state does not allow this",
        413: "Body too large",
        422: "A field failed validation (the message names it)",
    }.items()
}


router = APIRouter(prefix="/api", responses=_ERRORS)
for _part in (
    api_briefings,
    api_alerts,
    api_publications,
    api_schedules,
    api_editions,
    api_accounts,
    api_admin,
):
    router.include_router(_part.router)

_BRIEFING_SCHEMA = BriefingInput.model_json_schema(ref_template="#/components/schemas/{model}")
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
# The public JSON sign-up lives with the sign-up pages (no token); it is part of the
# API's document all the same, with what it reads and every answer it gives.
_SUBSCRIBE_OPERATION: dict[str, Any] = {
    "summary": "Sign up to a list",
    "description": (
        "A public JSON sign-up (no token). 202 with status `pending` (a confirmation email "
        "was sent) or `subscribed` (single opt-in list). Refusals are JSON "
        '`{"error", "status"}`; a 422 lists every field at fault in `fields`.'
    ),
    "operationId": "api_subscribe",
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubscribeIn"}}},
    },
    "responses": {
        "202": {
            "description": "Accepted: pending confirmation, or subscribed",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status", "message"],
                        "properties": {
                            "status": {"type": "string", "enum": ["pending", "subscribed"]},
                            "message": {"type": "string"},
                        },
                    }
                }
            },
        },
        **{
            str(code): {
                "description": text,
                "content": {"application/json": {"schema": _ERROR_REF}},
            }
            for code, text in {
                400: "The body is not JSON, or names an unknown list",
                404: "No such list",
                413: "Body too large",
                422: "Fields failed validation (each one listed)",
                429: "Too many sign-ups from this address or network; see Retry-After",
                503: "The confirmation email could not be sent; try again later",
            }.items()
        },
    },
}


def openapi_document(session: Session | None = None) -> dict[str, Any]:
    """The OpenAPI document of the API routes (the public pages are not part of it).

    With a ``session``, completed with the publications, lists and topics that exist
    (``api_deployment``).
    """
    document = get_openapi(
        title="Briefing publisher API",
        version="1",
        description=__doc__,
        routes=router.routes,  # get_openapi skips routes marked include_in_schema=False
    )
    components = document.setdefault("components", {}).setdefault("schemas", {})
    schema = dict(_BRIEFING_SCHEMA)
    components.update(schema.pop("$defs", {}))
    components["Briefing"] = schema
    # The sign-up view reads its body itself, so its schema is declared here.
    components["SubscribeIn"] = SubscribeIn.model_json_schema(by_alias=True)
    document["paths"][SUBSCRIBE_PATH] = {"post": copy.deepcopy(_SUBSCRIBE_OPERATION)}
    return document if session is None else api_deployment.complete(document, session)


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> JSONResponse:
    """The API's OpenAPI 3.1 document, with this deployment's publications and lists."""
    with runtime_of(request).database.session() as session:
        return JSONResponse(openapi_document(session))


@router.get("/docs", include_in_schema=False, response_class=HTMLResponse)
def docs() -> HTMLResponse:
    """The API reference as a plain page (no external scripts)."""
    document = openapi_document()
    html = (
        environment()
        .get_template("web/editor/api_docs.html")
        .render(
            document=document,
            introduction=api_docs.prose(document["info"].get("description")),
            operations=api_docs.operations(document),
        )
    )
    return HTMLResponse(html)
