"""The test server's request checks follow SendGrid's documented Mail Send rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from newsletter.providers.interfaces import Batch, Message, Recipient
from newsletter.providers.sendgrid import build_payload
from newsletter.sendgrid_testserver.checks import (
    INVALID_ADDRESS,
    SEND_AT_TOO_FAR,
    check_mail_send,
    check_schedule,
    due_times,
    valid_address,
)


def good() -> dict[str, Any]:
    """A request our adapter builds for two recipients."""
    message = Message(
        from_email="desk@paper.example",
        from_name="Desk",
        subject="Today",
        text="text",
        html="<p>html</p>",
        categories=("daily",),
        custom_args={"edition_id": "1"},
        headers={"X-Edition": "1"},
        unsubscribe_group=41,
    )
    recipients = tuple(
        Recipient(f"r{n}@mail.example", substitutions={"%%name%%": "R"}, custom_args={"s": "1"})
        for n in range(2)
    )
    return build_payload(Batch("k", message, recipients))


def fields(payload: Any, **kwargs: Any) -> list[str | None]:
    """The fields named by the errors for ``payload``."""
    return [error["field"] for error in check_mail_send(payload, **kwargs)]


def changed(path: str, value: Any) -> dict[str, Any]:
    """``good()`` with the value at a dotted path replaced (or removed when ``value`` is ...)."""
    payload = good()
    *parents, last = path.split(".")
    target: Any = payload
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    key: Any = int(last) if isinstance(target, list) else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return payload


def test_what_the_adapter_builds_is_accepted() -> None:
    """A request from build_payload passes every check."""
    assert check_mail_send(good()) == []


def test_the_adapter_sends_the_unsubscribe_group_and_up_to_25_may_be_shown() -> None:
    """``asm.group_id`` carries the message's group; a list of 25 groups to show is fine."""
    payload = good()
    assert payload["asm"] == {"group_id": 41}
    assert check_mail_send(changed("asm.groups_to_display", list(range(25)))) == []
    del payload["asm"]
    assert check_mail_send(payload) == []  # no group: SendGrid's global unsubscribes only


def test_the_body_must_be_an_object() -> None:
    """A JSON array or string body is refused."""
    assert fields([good()]) == [None]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("from", ..., "from.email"),
        ("from.email", "not-an-address", "from.email"),
        ("from.name", 3, "from.name"),
        ("reply_to", {"email": "x@"}, "reply_to.email"),
        ("subject", ..., "subject"),
        ("subject", "", "subject"),
        ("content", [], "content"),
        ("content.0.value", "", "content.0.value"),
        ("content.0", {"value": "no type"}, "content.0.type"),
        ("categories", ["a"] * 11, "categories"),
        ("categories", ["x" * 256], "categories"),
        ("categories", "daily", "categories"),
        ("headers", {"Subject": "override"}, "headers"),
        ("custom_args", {"n": 1}, "custom_args"),
        ("personalizations", [], "personalizations"),
        ("personalizations.0", "x", "personalizations.0"),
        ("personalizations.0.to", [], "personalizations.0"),
        ("personalizations.0.cc", "x@y.example", "personalizations.0.cc"),
        ("personalizations.0.to.0.email", "a b@c.example", "personalizations.0.to.0.email"),
        ("personalizations.1.to.0.email", "R0@MAIL.example", "personalizations.1.to.0.email"),
        ("personalizations.0.headers", {"To": "x"}, "personalizations.0.headers"),
        ("personalizations.0.substitutions", {"k": 1}, "personalizations.0.substitutions"),
        (
            "personalizations.0.substitutions",
            {"k": "v" * 10_000},
            "personalizations.0.substitutions",
        ),
        ("personalizations.0.custom_args", {"k": "v" * 10_000}, "personalizations.0.custom_args"),
        ("asm", 41, "asm"),
        ("asm", {"group_id": 41, "colour": "red"}, "asm"),
        ("asm.group_id", ..., "asm.group_id"),
        ("asm.group_id", "41", "asm.group_id"),
        ("asm.group_id", True, "asm.group_id"),
        ("asm.group_id", 41.5, "asm.group_id"),
        ("asm.groups_to_display", [1, "2"], "asm.groups_to_display"),
        ("asm.groups_to_display", 1, "asm.groups_to_display"),
        ("asm.groups_to_display", list(range(26)), "asm.groups_to_display"),
    ],
)
def test_each_documented_rule_names_its_field(path: str, value: Any, field: str) -> None:
    """Breaking one documented rule gives one error naming the offending field."""
    assert fields(changed(path, value)) == [field]


def test_html_before_text_is_refused() -> None:
    """text/plain must come before text/html."""
    payload = good()
    payload["content"].reverse()
    assert fields(payload) == ["content"]


def test_subject_may_come_from_every_personalization() -> None:
    """Without a top-level subject, a subject in every personalization is enough."""
    payload = changed("subject", ...)
    for personalization in payload["personalizations"]:
        personalization["subject"] = "Per reader"
    assert check_mail_send(payload) == []


def test_limits_of_1000_personalizations_and_recipients() -> None:
    """More than 1000 personalizations, or 1000 recipients across to/cc/bcc, is refused."""
    payload = good()
    template = payload["personalizations"][0]
    many = []
    for n in range(1001):
        entry = copy.deepcopy(template)
        entry["to"] = [{"email": f"p{n}@mail.example"}]
        many.append(entry)
    payload["personalizations"] = many
    assert fields(payload) == ["personalizations"]
    payload["personalizations"] = many[:600]
    for n, entry in enumerate(payload["personalizations"]):
        entry["cc"] = [{"email": f"cc{n}@mail.example"}]
    assert fields(payload) == ["personalizations"]


def test_configured_invalid_addresses_are_refused_case_insensitively() -> None:
    """An address in the server's invalid set is refused like a malformed one."""
    errors = check_mail_send(good(), invalid=frozenset({"r1@mail.example"}))
    assert errors == [
        {"message": INVALID_ADDRESS, "field": "personalizations.1.to.0.email", "help": None}
    ]


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("a@b.example", True),
        ("first.last+tag@sub.mail.example", True),
        ("no-at.example", False),
        ("a@b", False),
        ("a@-b.example", False),
        ('"q"@b.example', False),
        (None, False),
        ("a" * 320 + "@b.example", False),
    ],
)
def test_address_syntax(address: Any, ok: bool) -> None:
    """Addresses need a local part and a dotted domain of valid labels."""
    assert valid_address(address) is ok


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"send_at": 1000 + 72 * 3600 + 1}, "send_at"),
        ({"send_at": True}, "send_at"),
        ({"send_at": -1}, "send_at"),
        ({"send_at": 1.5}, "send_at"),
        ({"batch_id": 12}, "batch_id"),
        ({"batch_id": "unknown"}, "batch_id"),
    ],
)
def test_schedule_fields_are_checked(change: dict[str, Any], field: str) -> None:
    """send_at must be an integer at most 72 h ahead; batch_id a string the server made."""
    payload = {**good(), **change}
    errors = check_schedule(payload, now=1000.0, known_batch=lambda b: b == "known")
    assert [e["field"] for e in errors] == [field]


def test_schedule_checks_reach_each_personalization() -> None:
    """A personalization's send_at is bounded too; a valid schedule passes."""
    payload = {**good(), "send_at": 1000 + 72 * 3600, "batch_id": "known"}
    payload["personalizations"][1]["send_at"] = 1000 + 72 * 3600 + 5
    errors = check_schedule(payload, now=1000.0, known_batch=lambda b: b == "known")
    assert errors == [
        {"message": SEND_AT_TOO_FAR, "field": "personalizations.1.send_at", "help": None}
    ]
    assert check_schedule([], now=0.0, known_batch=lambda b: True) == []


def test_due_times_prefer_the_personalization_then_the_request_then_now() -> None:
    """Each personalization is due at its own send_at, else the request's, else now."""
    payload = good()
    assert due_times(payload, 50.0) == [50.0, 50.0]
    payload["send_at"] = 70
    payload["personalizations"][0]["send_at"] = 60
    assert due_times(payload, 50.0) == [60.0, 70.0]
