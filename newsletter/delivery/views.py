"""``POST /webhooks/sendgrid``: SendGrid's signed Event Webhook.

Verify the signature over the raw body (403 if forged, unsigned or replayed),
translate the JSON into our events (400 if malformed), then apply them in one
transaction. Nothing is stored unless every step passes. SendGrid retries any
non-2xx answer, and duplicates are harmless (deduplicated on ``sg_event_id``), so
a failure while applying answers 5xx and lets SendGrid try again.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from newsletter.delivery.events import EventsResult, apply_events
from newsletter.delivery.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ProviderEvent,
    parse_events,
    verify_event_request,
)
from newsletter.errors import ConfigError
from newsletter.runtime import Runtime
from newsletter.web.app import runtime_of

WEBHOOK_PATH = "/webhooks/sendgrid"

router = APIRouter()


def _raw_by_id(body: bytes) -> dict[str, dict[str, Any]]:
    """Each event of an already validated body, keyed by its ``sg_event_id``."""
    return {str(item["sg_event_id"]): item for item in json.loads(body)}


def _store(runtime: Runtime, events: list[ProviderEvent], body: bytes) -> EventsResult:
    with runtime.database.session() as session:
        return apply_events(session, events, _raw_by_id(body))


@router.post(WEBHOOK_PATH)
async def sendgrid_events(request: Request) -> JSONResponse:
    """Receive a batch of SendGrid events: verify, translate, apply once."""
    runtime = runtime_of(request)
    body = await request.body()
    try:
        verify_event_request(
            body,
            request.headers.get(SIGNATURE_HEADER, ""),
            request.headers.get(TIMESTAMP_HEADER, ""),
            runtime.settings.sendgrid_webhook_public_key,
            now=time.time(),
        )
    except ConfigError as exc:
        # Without a key nothing can be verified; 503 makes SendGrid keep the events.
        return JSONResponse({"error": str(exc)}, status_code=503)
    events = parse_events(body)
    result = await run_in_threadpool(_store, runtime, events, body)
    return JSONResponse(
        {
            "received": len(events),
            "applied": result.applied,
            "duplicates": result.duplicates,
            "unmatched": result.unmatched,
        }
    )
