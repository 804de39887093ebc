"""SendGrid Event Webhook: verify a request, then translate its JSON into our events.

No database here: the web view calls ``verify_event_request`` on the raw body and
headers (refusing with 403 on ``VerificationError``, 400 on ``InvalidInputError``),
then ``load_events``, which checks every event is well formed without translating
it (cheap enough to run in the request); the applier reads the stored body with
``load_events`` again and takes only the fields it needs. ``parse_events``
translates a body into ``ProviderEvent`` values, with the same checks.

SendGrid signs ``timestamp + body`` with ECDSA P-256 / SHA-256 and sends the base64
DER signature and the timestamp in two headers; the public key (Settings → Mail
Settings → Signed Event Webhook) is base64 DER (SubjectPublicKeyInfo). The library's
verifier checks only the signature, so a captured request could be replayed
forever: we also refuse timestamps more than ``max_age_s`` away from now. A replay
inside that window carries already-seen ``sg_event_id`` values and is deduplicated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from newsletter.errors import ConfigError, InvalidInputError, VerificationError
from newsletter.providers.webhook_protocol import (
    BATCH_ID,
    EDITION_ID,
    SIGNATURE_HEADER,
    SUBSCRIBER_ID,
    TIMESTAMP_HEADER,
    EventKind,
)

MAX_AGE_S = 600.0


# Fields SendGrid itself sets on events; every other top-level key is one of our custom_args.
_STANDARD_FIELDS = frozenset(
    {
        "email", "timestamp", "event", "sg_event_id", "sg_message_id", "smtp-id",
        "category", "type", "bounce_classification", "reason", "status", "response",
        "attempt", "url", "url_offset", "useragent", "ip", "tls", "cert_err",
        "asm_group_id", "marketing_campaign_id", "marketing_campaign_name",
        "sg_machine_open", "sg_content_type", "pool", "send_at",
    }
)  # fmt: skip


_KINDS = {kind.value: kind for kind in EventKind}
# Personal data SendGrid adds to engagement events; never stored.
PRIVATE_FIELDS = frozenset({"ip", "useragent"})
HARD_BOUNCE = "bounce"  # SendGrid's bounce "type"; "blocked" is the receiver's refusal
# What ``load_events`` checks on its fast path (``_event`` judges every other case).
_REQUIRED = ("sg_event_id", "email")
# Text fields ``_event`` may read (some only for some events: a stricter test here is
# safe, as an event failing it is judged by ``_event``).
_OPTIONAL = (
    "sg_message_id",
    "type",
    "bounce_classification",
    "reason",
    "response",
    "status",
    "url",
)
_LATEST = 2**35  # a timestamp (about year 3058) that surely converts to a datetime


@dataclass(frozen=True)
class ProviderEvent:
    """One delivery event in our own terms (no IP address or user agent kept)."""

    sg_event_id: str
    kind: EventKind
    email: str
    timestamp: datetime
    name: str = ""  # SendGrid's event name as sent (differs from ``kind`` only for OTHER)
    sg_message_id: str = ""
    custom_args: dict[str, str] = field(default_factory=dict)
    bounce_type: str = ""  # "bounce" (hard) or "blocked" (by the receiver), bounce events only
    bounce_classification: str = ""
    reason: str = ""  # bounce/dropped reason, or the receiving server's response when deferred
    status: str = ""
    url: str = ""  # the clicked link, click events only

    @property
    def edition_id(self) -> str:
        """The edition this event's message belonged to ("" if not ours)."""
        return self.custom_args.get(EDITION_ID, "")

    @property
    def batch_id(self) -> str:
        """The batch this event's message was sent in ("" if not ours)."""
        return self.custom_args.get(BATCH_ID, "")

    @property
    def subscriber_id(self) -> str:
        """The subscriber the message went to ("" if not ours)."""
        return self.custom_args.get(SUBSCRIBER_ID, "")


def verify_event_request(
    raw_body: bytes,
    signature: str,
    timestamp: str,
    public_key: str,
    *,
    now: float,
    max_age_s: float = MAX_AGE_S,
) -> None:
    """Raise ``VerificationError`` unless SendGrid signed ``raw_body`` within ``max_age_s``."""
    key = load_public_key(public_key)
    if not signature or not timestamp:
        raise VerificationError(
            f"webhook request is unsigned: {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required"
        )
    try:
        sent_at = int(timestamp.strip())
    except ValueError:
        raise VerificationError(
            f"{TIMESTAMP_HEADER} must be Unix seconds, got {timestamp[:40]!r}"
        ) from None
    age = now - sent_at
    # Clocks drift both ways, so a timestamp far in the future is refused like an old one.
    if abs(age) > max_age_s:
        raise VerificationError(
            f"webhook timestamp is {age:.0f} s from now; at most {max_age_s:.0f} s is accepted "
            "(replayed or delayed request)"
        )
    try:
        payload = raw_body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"webhook body is not UTF-8 (byte {exc.start}); SendGrid sends UTF-8 JSON"
        ) from None
    try:
        valid = EventWebhook().verify_signature(payload, signature, timestamp, public_key=key)
    except ValueError:  # base64 that does not decode
        valid = False
    if not valid:
        raise VerificationError(
            f"webhook signature does not match the body (check {SIGNATURE_HEADER} and "
            "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY)"
        )


@lru_cache(maxsize=8)
def load_public_key(public_key: str) -> ec.EllipticCurvePublicKey:
    """Parse SendGrid's base64 DER verification key, or raise ``ConfigError``."""
    name = "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY"
    if not public_key.strip():
        raise ConfigError(f"{name}: must be set to verify the Event Webhook")
    try:
        key = EventWebhook().convert_public_key_to_ecdsa(public_key.strip())
    except ValueError:
        raise ConfigError(f"{name}: not a base64 DER public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError(f"{name}: not an elliptic-curve (ECDSA) key")
    return key


def parse_events(raw_body: bytes) -> list[ProviderEvent]:
    """Translate a webhook body (a JSON array of events) into ``ProviderEvent`` values.

    The whole body is refused (``InvalidInputError`` naming the event and field) if
    it is not a JSON array of well-formed events, so a bad body stores nothing.
    Duplicate ``sg_event_id`` values within one body are kept once.
    """
    return [event for event, _ in parse_with_raw(raw_body)]


def parse_with_raw(raw_body: bytes | str) -> list[tuple[ProviderEvent, dict[str, Any]]]:
    """``parse_events``, each event paired with the JSON object it came from."""
    events: dict[str, tuple[ProviderEvent, dict[str, Any]]] = {}
    for index, item in enumerate(_array(raw_body)):
        event = _event(index, item)
        events.setdefault(event.sg_event_id, (event, item))
    return list(events.values())


def load_events(raw_body: bytes | str) -> list[dict[str, Any]]:
    """The body's events as JSON objects, each checked as ``parse_events`` would.

    Refuses the body as ``parse_events`` does (``InvalidInputError`` naming the
    event and field) but builds nothing per event: the webhook's check before
    storing, and the applier's reading of a stored body.
    """
    data = _array(raw_body)
    for index, item in enumerate(data):
        if type(item) is not dict:
            _event(index, item)  # raises, naming the event
        # The common case first, one test per field; anything else is judged (and
        # refused with its field named) by the full translation of this event.
        name = item.get("event")
        ok = type(name) is str and name != ""
        for key in _REQUIRED:
            value = item.get(key)
            ok = ok and type(value) is str and value != ""
        stamp = item.get("timestamp")
        ok = ok and (type(stamp) is int or type(stamp) is float) and 0 <= stamp <= _LATEST
        for key in _OPTIONAL:
            value = item.get(key)
            ok = ok and (value is None or type(value) is str)
        if not ok:
            _event(index, item)
    return data


def event_count(events: list[dict[str, Any]]) -> int:
    """How many distinct ``sg_event_id`` values these checked events hold."""
    return len({_id(item["sg_event_id"]) for item in events})


def _id(value: Any) -> str:
    return value if type(value) is str else str(value)


@dataclass
class EventColumns:
    """Checked events of some posts as columns, each ``sg_event_id`` once, in arrival order.

    What the applier reads of every event, taken without building an object per
    event; the rest is read from ``items`` only for the few events that need it
    (``batch_numbers``, ``reason_of``, ``time_of``, ``is_hard_bounce``).
    """

    ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # SendGrid's event names
    digests: list[int | None] = field(default_factory=list)  # our edition id, if one
    subscribers: list[int | None] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)  # sg_event_id → index
    read: int = 0  # events added, repeats included

    def add(self, events: list[dict[str, Any]]) -> None:
        """Append events checked by ``load_events``; an ``sg_event_id`` already here is skipped."""
        positions, ids, items = self.positions, self.ids, self.items
        names, digests, subscribers = self.names, self.digests, self.subscribers
        for item in events:
            event_id = item["sg_event_id"]
            if type(event_id) is not str:
                event_id = str(event_id)
            if event_id in positions:
                continue
            positions[event_id] = len(ids)
            ids.append(event_id)
            name = item["event"]
            names.append(name if type(name) is str else str(name))
            digests.append(_our_id(item.get(EDITION_ID)))
            subscribers.append(_our_id(item.get(SUBSCRIBER_ID)))
            items.append(item)
        self.read += len(events)


def stored_form(item: dict[str, Any]) -> dict[str, Any]:
    """The event as stored: without the reader's IP address and user agent."""
    if "ip" in item or "useragent" in item:
        return {key: value for key, value in item.items() if key not in PRIVATE_FIELDS}
    return item


def _our_id(value: Any) -> int | None:
    """One of our ids from a custom arg: a decimal that fits a 32-bit column, else None."""
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if type(value) is int and 0 <= value < 2**31:
        return value
    return None


def batch_numbers(items: Iterable[dict[str, Any]]) -> set[int]:
    """The ids of the batches these events' messages were sent in (ours only)."""
    values = set()
    for item in items:  # few distinct values among many events: convert each once
        value = item.get(BATCH_ID)
        if type(value) is str or type(value) is int:
            values.add(value)
    return {number for number in map(_our_id, values) if number is not None}


def reason_of(item: dict[str, Any]) -> str:
    """A bounce or drop reason, or the receiving server's response ("" if none)."""
    for key in ("reason", "response"):
        value = item.get(key)
        if value is not None and value != "":
            return _id(value)
    return ""


def time_of(item: dict[str, Any]) -> datetime:
    """When the event happened (a checked event's timestamp converts)."""
    return datetime.fromtimestamp(item["timestamp"], UTC)


def is_hard_bounce(item: dict[str, Any]) -> bool:
    """Whether a bounce event is a hard bounce ("blocked" is the receiver's refusal)."""
    return item.get("type") == HARD_BOUNCE


def _array(raw_body: bytes | str) -> list[Any]:
    """The body parsed as JSON, which must be an array."""
    try:
        data = orjson.loads(raw_body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"webhook body is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise InvalidInputError(
            f"webhook body must be a JSON array of events, got {type(data).__name__}"
        )
    maybe_nul = b"\\u0000" in raw_body if isinstance(raw_body, bytes) else "\\u0000" in raw_body
    if maybe_nul:  # rare: only then look for where it is
        _refuse_nul(data)
    return data


def _refuse_nul(data: list[Any]) -> None:
    """Refuse a NUL character anywhere in an event: PostgreSQL cannot store it in text."""
    for index, item in enumerate(data):
        pending: list[tuple[str, Any]] = [("", item)]
        while pending:
            where, value = pending.pop()
            if isinstance(value, str) and "\x00" in value:
                raise InvalidInputError(
                    f"webhook event {index}: field {where or 'value'!r} holds a NUL character"
                )
            if isinstance(value, dict):
                for key, inner in value.items():
                    name = f"{where}.{key}" if where else str(key)
                    if "\x00" in str(key):
                        raise InvalidInputError(
                            f"webhook event {index}: a field name holds a NUL character"
                        )
                    pending.append((name, inner))
            elif isinstance(value, list):
                pending.extend((f"{where}[{i}]", inner) for i, inner in enumerate(value))


def _event(index: int, item: Any) -> ProviderEvent:
    if not isinstance(item, dict):
        raise InvalidInputError(
            f"webhook event {index}: must be a JSON object, got {type(item).__name__}"
        )
    name = _text(item, "event", index, required=True)
    kind = _KINDS.get(name, EventKind.OTHER)
    return ProviderEvent(
        sg_event_id=_text(item, "sg_event_id", index, required=True),
        kind=kind,
        name=name,
        email=_text(item, "email", index, required=True),
        timestamp=_timestamp(item.get("timestamp"), index),
        sg_message_id=_text(item, "sg_message_id", index),
        # JSON values are exactly str, int, float, bool, None, list or dict, so the type
        # checks keep strings and integers (not booleans) as isinstance checks would.
        custom_args={
            k: v if type(v) is str else str(v)
            for k, v in item.items()
            if (type(v) is str or type(v) is int) and k not in _STANDARD_FIELDS
        },
        bounce_type=_text(item, "type", index) if kind is EventKind.BOUNCE else "",
        bounce_classification=_text(item, "bounce_classification", index),
        reason=_text(item, "reason", index) or _text(item, "response", index),
        status=_text(item, "status", index),
        url=_text(item, "url", index) if kind is EventKind.CLICK else "",
    )


def _text(item: dict[str, Any], key: str, index: int, *, required: bool = False) -> str:
    value = item.get(key)
    if type(value) is str and value:  # the common case first: every check below passes
        return value
    if value is None or value == "":
        if required:
            raise InvalidInputError(f"webhook event {index}: field {key!r} is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInputError(f"webhook event {index}: field {key!r} must be a string")
    return str(value)


def _timestamp(value: Any, index: int) -> datetime:
    where = f"webhook event {index}: field 'timestamp'"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{where} must be Unix seconds")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidInputError(f"{where} is out of range") from None
