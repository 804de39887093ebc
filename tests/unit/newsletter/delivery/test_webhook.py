"""Event Webhook verification (signature + age) and translation into ProviderEvent values."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.delivery.webhook import (
    EventColumns,
    ProviderEvent,
    batch_numbers,
    is_hard_bounce,
    load_events,
    parse_events,
    reason_of,
    stored_form,
    time_of,
    verify_event_request,
)
from newsletter.errors import ConfigError, InvalidInputError, VerificationError
from newsletter.providers.webhook_protocol import EventKind
from newsletter.sendgrid_testserver.events import generate_signing_key, public_key_b64, sign

NOW = 1_750_000_000


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    """A P-256 key generated for these tests, as SendGrid holds one per account."""
    return generate_signing_key()


def event(**changes: Any) -> dict[str, Any]:
    """A delivered event carrying our custom args."""
    fields: dict[str, Any] = {
        "email": "reader@mail.example",
        "timestamp": NOW - 5,
        "event": "delivered",
        "sg_event_id": "ZGVsaXZlcmVkLTAtMQ",
        "sg_message_id": "msg1.filter0001.0",
        "smtp-id": "<msg1@example>",
        "ip": "192.0.2.1",
        "edition_id": "3",
        "batch_id": "7",
        "subscriber_id": "42",
    }
    fields.update(changes)
    return fields


def signed(key: ec.EllipticCurvePrivateKey, body: bytes, stamp: int = NOW) -> tuple[str, str]:
    """The two header values SendGrid would send with ``body``."""
    return sign(key, str(stamp), body), str(stamp)


def test_a_genuine_request_verifies(key: ec.EllipticCurvePrivateKey) -> None:
    """A body signed with the account key at a recent timestamp is accepted."""
    body = json.dumps([event()]).encode()
    signature, stamp = signed(key, body, NOW - 30)
    verify_event_request(body, signature, stamp, public_key_b64(key), now=NOW)


def test_a_changed_byte_is_forged(key: ec.EllipticCurvePrivateKey) -> None:
    """Any change to the body after signing fails verification (the raw body is what is signed)."""
    body = json.dumps([event()]).encode()
    signature, stamp = signed(key, body)
    tampered = body.replace(b"delivered", b"bounce")
    with pytest.raises(VerificationError, match="signature does not match"):
        verify_event_request(tampered, signature, stamp, public_key_b64(key), now=NOW)


def test_reformatted_json_is_forged(key: ec.EllipticCurvePrivateKey) -> None:
    """The same events with different whitespace are not what SendGrid signed."""
    body = json.dumps([event()]).encode()
    signature, stamp = signed(key, body)
    spaced = json.dumps([event()], indent=2).encode()
    with pytest.raises(VerificationError):
        verify_event_request(spaced, signature, stamp, public_key_b64(key), now=NOW)


def test_another_key_is_forged(key: ec.EllipticCurvePrivateKey) -> None:
    """A signature made with a different key is refused."""
    body = b"[]"
    signature, stamp = signed(generate_signing_key(), body)
    with pytest.raises(VerificationError):
        verify_event_request(body, signature, stamp, public_key_b64(key), now=NOW)


def test_the_timestamp_is_part_of_what_is_signed(key: ec.EllipticCurvePrivateKey) -> None:
    """Moving a valid signature to a fresher timestamp breaks it."""
    body = b"[]"
    signature, _ = signed(key, body, NOW - 100)
    with pytest.raises(VerificationError, match="signature"):
        verify_event_request(body, signature, str(NOW - 1), public_key_b64(key), now=NOW)


@pytest.mark.parametrize("age", [601, 3600, -601])
def test_old_or_future_timestamps_are_refused(key: ec.EllipticCurvePrivateKey, age: int) -> None:
    """A correctly signed request more than 10 minutes from now is refused as a replay."""
    body = b"[]"
    signature, stamp = signed(key, body, NOW - age)
    with pytest.raises(VerificationError, match="at most 600 s"):
        verify_event_request(body, signature, stamp, public_key_b64(key), now=NOW)


def test_the_age_limit_is_configurable(key: ec.EllipticCurvePrivateKey) -> None:
    """max_age_s sets the window: 60 s refuses what the default 600 s accepts."""
    body = b"[]"
    signature, stamp = signed(key, body, NOW - 120)
    verify_event_request(body, signature, stamp, public_key_b64(key), now=NOW)
    with pytest.raises(VerificationError, match="at most 60 s"):
        verify_event_request(body, signature, stamp, public_key_b64(key), now=NOW, max_age_s=60)


@pytest.mark.parametrize(
    ("signature", "stamp", "message"),
    [
        ("", str(NOW), "unsigned"),
        ("c2ln", "", "unsigned"),
        ("c2ln", "yesterday", "must be Unix seconds"),
        ("not base64!", str(NOW), "signature does not match"),
        (base64.b64encode(b"not DER").decode(), str(NOW), "signature does not match"),
    ],
)
def test_missing_or_malformed_headers_are_refused(
    key: ec.EllipticCurvePrivateKey, signature: str, stamp: str, message: str
) -> None:
    """Absent headers, a non-numeric timestamp or a garbled signature are refused with 403."""
    with pytest.raises(VerificationError, match=message):
        verify_event_request(b"[]", signature, stamp, public_key_b64(key), now=NOW)


def test_a_body_that_is_not_utf8_is_bad_input(key: ec.EllipticCurvePrivateKey) -> None:
    """SendGrid sends UTF-8; other bytes are refused as malformed (400), not verified."""
    body = b"[\xff]"
    signature, stamp = signed(key, body)
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        verify_event_request(body, signature, stamp, public_key_b64(key), now=NOW)


def test_a_bad_public_key_is_a_configuration_error(key: ec.EllipticCurvePrivateKey) -> None:
    """An empty, garbled or non-EC verification key names the setting to fix."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_b64 = base64.b64encode(
        rsa_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()
    for bad, message in [
        ("", "must be set"),
        ("bm9wZQ==", "not a base64 DER"),
        (rsa_b64, "not an"),
    ]:
        with pytest.raises(ConfigError, match=f"WEBHOOK_PUBLIC_KEY: {message}"):
            verify_event_request(b"[]", "c2ln", str(NOW), bad, now=NOW)


def test_events_translate_into_our_type() -> None:
    """A delivered event keeps its ids, time and custom args, and drops personal extras (IP)."""
    (parsed,) = parse_events(json.dumps([event()]).encode())
    assert parsed == ProviderEvent(
        sg_event_id="ZGVsaXZlcmVkLTAtMQ",
        kind=EventKind.DELIVERED,
        name="delivered",
        email="reader@mail.example",
        timestamp=datetime.fromtimestamp(NOW - 5, UTC),
        sg_message_id="msg1.filter0001.0",
        custom_args={"edition_id": "3", "batch_id": "7", "subscriber_id": "42"},
    )
    assert (parsed.edition_id, parsed.batch_id, parsed.subscriber_id) == ("3", "7", "42")


def test_every_event_kind_we_act_on_is_recognised() -> None:
    """Each SendGrid event name maps to its kind; an unknown name becomes OTHER, not an error."""
    names = [k.value for k in EventKind if k is not EventKind.OTHER] + ["machine_opened"]
    body = [event(event=name, sg_event_id=f"id-{name}") for name in names]
    kinds = [e.kind for e in parse_events(json.dumps(body).encode())]
    assert kinds == [*(k for k in EventKind if k is not EventKind.OTHER), EventKind.OTHER]


def test_bounce_dropped_deferred_and_click_details() -> None:
    """Bounce type, classification and reason, drop reason, deferral reply, click URL are kept."""
    body = [
        event(event="bounce", sg_event_id="b", type="blocked", reason="550 spam",
              bounce_classification="Reputation", status="5.7.1"),
        event(event="dropped", sg_event_id="d", reason="Bounced Address"),
        event(event="deferred", sg_event_id="f", response="421 try later", attempt="2"),
        event(event="click", sg_event_id="c", url="https://paper.example/s/1"),
        event(event="open", sg_event_id="o", type="ignored", url="https://ignored.example/"),
    ]  # fmt: skip
    bounce, dropped, deferred, click, opened = parse_events(json.dumps(body).encode())
    assert (bounce.bounce_type, bounce.bounce_classification, bounce.reason, bounce.status) == (
        "blocked", "Reputation", "550 spam", "5.7.1",
    )  # fmt: skip
    assert dropped.reason == "Bounced Address"
    assert deferred.reason == "421 try later"
    assert click.url == "https://paper.example/s/1"
    assert (opened.bounce_type, opened.url) == ("", "")


def test_duplicate_event_ids_in_one_body_are_kept_once() -> None:
    """SendGrid may repeat an event; the same sg_event_id appears once in the result."""
    body = [event(), event(event="open"), event(sg_event_id="other")]
    parsed = parse_events(json.dumps(body).encode())
    assert [(e.sg_event_id, e.kind) for e in parsed] == [
        ("ZGVsaXZlcmVkLTAtMQ", EventKind.DELIVERED),
        ("other", EventKind.DELIVERED),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not valid JSON"),
        (b'[{"email": "a@b.example", "event": "deliv', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"event": "delivered"}', "must be a JSON array of events, got dict"),
        (b"[1]", "webhook event 0: must be a JSON object, got int"),
    ],
)
def test_non_json_truncated_or_wrong_shape_bodies_are_refused(body: bytes, message: str) -> None:
    """A body that is not a JSON array of objects is refused as a whole."""
    with pytest.raises(InvalidInputError, match=message):
        parse_events(body)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sg_event_id": None}, "event 1: field 'sg_event_id' is required"),
        ({"event": ""}, "event 1: field 'event' is required"),
        ({"email": ["a@b.example"]}, "event 1: field 'email' must be a string"),
        ({"timestamp": "yesterday"}, "event 1: field 'timestamp' must be Unix seconds"),
        ({"timestamp": True}, "event 1: field 'timestamp' must be Unix seconds"),
        ({"timestamp": 10**20}, "event 1: field 'timestamp' is out of range"),
    ],
)
def test_a_malformed_event_refuses_the_whole_body(changes: dict[str, Any], message: str) -> None:
    """One bad event names its index and field, and nothing from the body is returned."""
    body = json.dumps([event(sg_event_id="fine"), event(**changes)]).encode()
    with pytest.raises(InvalidInputError, match=message):
        parse_events(body)


def test_only_string_or_integer_extras_become_custom_args() -> None:
    """Unknown top-level strings and integers are custom args; lists, flags and nulls are not."""
    (parsed,) = parse_events(
        json.dumps([event(edition_id=3, extra=["x"], flag=True, none=None)]).encode()
    )
    assert parsed.custom_args == {"edition_id": "3", "batch_id": "7", "subscriber_id": "42"}


# Values of every JSON type, including the edge cases the quick check must send on.
_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    5,
    2**35 + 1,
    10**20,
    -(10**20),
    1.5,
    -0.5,
    "",
    "x",
    "bounce",
    [1],
    {},
]
_FIELDS = ["event", "sg_event_id", "email", "timestamp", "sg_message_id", "type", "reason",
           "response", "status", "url", "bounce_classification"]  # fmt: skip


def _judged_alike(changes: dict[str, Any]) -> None:
    """Assert load_events refuses the body exactly when parse_events does, with its message."""
    body = json.dumps([event(sg_event_id="first"), event(**changes)]).encode()
    try:
        parse_events(body)
        message = ""
    except InvalidInputError as exc:
        message = str(exc)
    if message:
        with pytest.raises(InvalidInputError) as refused:
            load_events(body)
        assert str(refused.value) == message
    else:
        assert len(load_events(body)) == 2


@pytest.mark.parametrize("name", ["delivered", "bounce", "click"])
@pytest.mark.parametrize("field", _FIELDS)
def test_the_quick_check_refuses_exactly_what_translation_refuses(name: str, field: str) -> None:
    """load_events accepts a body if and only if parse_events does, whatever one field holds."""
    for value in _VALUES:
        _judged_alike({"event": name, field: value})


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(_FIELDS), st.sampled_from(_VALUES), max_size=4))
def test_the_quick_check_agrees_on_several_odd_fields(changes: dict[str, Any]) -> None:
    """With several fields odd at once, both still refuse the same bodies the same way."""
    _judged_alike(changes)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", 42),
        (42, 42),
        ("2147483647", 2**31 - 1),
        ("2147483648", None),
        (2**31, None),
        ("-1", None),
        (-1, None),
        ("²", None),  # a digit to str.isdigit, not to int()
        ("٣", None),  # a decimal digit, but not ASCII
        ("00000000001", None),  # too long to be one of our ids
        (True, None),
        (1.0, None),
        ("", None),
    ],
)
def test_our_ids_are_small_decimal_integers(value: Any, expected: int | None) -> None:
    """Edition, batch and subscriber ids in custom args must fit a 32-bit column, else not ours."""
    columns = EventColumns()
    columns.add([event(edition_id=value, subscriber_id=value, batch_id=value)])
    assert (columns.digests, columns.subscribers) == ([expected], [expected])
    assert batch_numbers(columns.items) == ({expected} if expected is not None else set())


def test_columns_keep_each_event_id_once_in_arrival_order() -> None:
    """Events repeated across posts are kept once (the first), and every one read is counted."""
    columns = EventColumns()
    columns.add([event(sg_event_id="a"), event(sg_event_id=7, event="open")])
    columns.add([event(sg_event_id="7"), event(sg_event_id="b", event="bounce")])
    assert columns.ids == ["a", "7", "b"]
    assert columns.names == ["delivered", "open", "bounce"]
    assert columns.positions == {"a": 0, "7": 1, "b": 2}
    assert columns.read == 4


def test_the_stored_form_drops_the_readers_address_and_agent() -> None:
    """IP address and user agent are removed before an event is stored; nothing else is."""
    opened = event(event="open", useragent="Mail/1.0")
    assert stored_form(opened) == {k: v for k, v in opened.items() if k not in {"ip", "useragent"}}
    plain = {k: v for k, v in event().items() if k != "ip"}
    assert stored_form(plain) is plain


def test_reason_time_and_hard_bounce_are_read_from_the_event() -> None:
    """A bounce's reason (or the server's response), its time and whether it is hard."""
    hard = event(event="bounce", type="bounce", reason="550 no such user")
    assert (reason_of(hard), is_hard_bounce(hard)) == ("550 no such user", True)
    soft = event(event="bounce", type="blocked", reason="", response=421)
    assert (reason_of(soft), is_hard_bounce(soft)) == ("421", False)
    assert reason_of(event()) == ""
    assert time_of(event()) == datetime.fromtimestamp(NOW - 5, UTC)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"sg_event_id": "a\u0000b"}, "sg_event_id"),
        ({"email": "x\u0000@example.org"}, "email"),
        ({"edition_id": "1\u0000"}, "edition_id"),
        ({"nested": {"deep": ["ok", "bad\u0000"]}}, "nested.deep[1]"),
    ],
)
def test_a_nul_character_anywhere_refuses_the_body(event: dict[str, Any], field: str) -> None:
    """A NUL (which PostgreSQL cannot store as text) is refused up front, naming its field."""
    item = {
        "sg_event_id": "e1",
        "event": "processed",
        "email": "a@example.org",
        "timestamp": 1_700_000_000,
        **event,
    }
    body = json.dumps([item]).encode()
    with pytest.raises(InvalidInputError, match=re.escape(f"event 0: field '{field}' holds a NUL")):
        load_events(body)
    with pytest.raises(InvalidInputError, match="NUL"):
        load_events(body.decode())


def test_a_nul_in_a_field_name_is_refused() -> None:
    """A field name with a NUL is refused too."""
    body = json.dumps([{"sg_event_id": "e1", "bad\u0000key": "v"}]).encode()
    with pytest.raises(InvalidInputError, match="a field name holds a NUL"):
        load_events(body)


def test_an_escaped_backslash_before_u0000_is_not_a_nul() -> None:
    """The text "\\u0000" written with an escaped backslash is ordinary text, not a NUL."""
    item = {
        "sg_event_id": "e1",
        "event": "processed",
        "email": "a@example.org",
        "timestamp": 1_700_000_000,
        "note": "\\u0000",
    }
    assert load_events(json.dumps([item]).encode())[0]["note"] == "\\u0000"
