"""Event Webhook traffic for the SendGrid test server: build events, sign and post them.

Events look like SendGrid's: one JSON object per recipient and event type, with the
message's ``custom_args`` as top-level keys, a unique ``sg_event_id``, and the
request signed with ECDSA P-256 / SHA-256 over ``timestamp + body`` (base64 DER
signature in ``X-Twilio-Email-Event-Webhook-Signature``).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.delivery.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, EventKind

_FIRST_LINK = re.compile(r"""href=["'](https?://[^"']+)["']""")
_DETAILS: dict[str, dict[str, str]] = {
    EventKind.BOUNCE: {
        "type": "bounce",
        "bounce_classification": "Invalid Address",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist",
        "status": "5.1.1",
    },
    EventKind.DROPPED: {"reason": "Bounced Address", "status": "5.0.0"},
    EventKind.DEFERRED: {"response": "421 4.7.0 Try again later", "attempt": "1"},
}


@dataclass(frozen=True)
class PostResult:
    """The webhook's answer to one signed post."""

    status: int
    body: bytes


def generate_signing_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key, the kind SendGrid signs events with."""
    return ec.generate_private_key(ec.SECP256R1())


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid shows it: base64 DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def sign(key: ec.EllipticCurvePrivateKey, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    der = key.sign(timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(der).decode("ascii")


def events_for(
    message_id: str,
    payload: Mapping[str, Any],
    kind: str,
    *,
    addresses: Collection[str] | None = None,
    timestamp: int | None = None,
) -> list[dict[str, Any]]:
    """One ``kind`` event per recipient of an accepted request (or those in ``addresses``)."""
    wanted = {a.lower() for a in addresses} if addresses is not None else None
    when = int(time.time()) if timestamp is None else timestamp
    shared = {str(k): str(v) for k, v in (payload.get("custom_args") or {}).items()}
    events: list[dict[str, Any]] = []
    for n, personalization in enumerate(payload.get("personalizations") or []):
        custom = {**shared, **(personalization.get("custom_args") or {})}
        for to in personalization.get("to") or []:
            email = str(to["email"])
            if wanted is not None and email.lower() not in wanted:
                continue
            event: dict[str, Any] = {
                **custom,
                "email": email,
                "timestamp": when,
                "event": str(kind),
                "sg_event_id": secrets.token_urlsafe(16),
                "sg_message_id": f"{message_id}.filter0001.{n}",
                "smtp-id": f"<{message_id}.{n}@testserver.invalid>",
                **_DETAILS.get(kind, {}),
            }
            if payload.get("categories"):
                event["category"] = list(payload["categories"])
            if kind == EventKind.CLICK:
                event["url"] = _first_link(payload)
            events.append(event)
    return events


def post_events(
    webhook_url: str,
    events: Iterable[Mapping[str, Any]],
    *,
    key: ec.EllipticCurvePrivateKey,
    timestamp: int | None = None,
    timeout: float = 10.0,
) -> PostResult:
    """POST ``events`` to ``webhook_url`` signed with ``key``; returns the answer, even 4xx."""
    body = json.dumps(list(events), separators=(",", ":")).encode("utf-8")
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    request = urllib.request.Request(  # noqa: S310 - the caller chooses an http(s) URL
        webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(key, stamp, body),
            TIMESTAMP_HEADER: stamp,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return PostResult(response.status, response.read())
    except urllib.error.HTTPError as exc:
        return PostResult(exc.code, exc.read())


def _first_link(payload: Mapping[str, Any]) -> str:
    for part in payload.get("content") or []:
        if part.get("type") == "text/html":
            match = _FIRST_LINK.search(str(part.get("value", "")))
            if match:
                return match.group(1)
    return "https://example.invalid/"
