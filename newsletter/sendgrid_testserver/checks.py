"""How the SendGrid test server judges a ``POST /v3/mail/send`` body, as SendGrid documents it.

``check_mail_send`` returns SendGrid-style errors (``{"message", "field", "help"}``);
an empty list means the request would be accepted. One deliberate difference: the
real API accepts some sloppy input we never produce; this checker is as strict as
the documented rules, so a request it accepts is one SendGrid accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_BODY_BYTES = 30 * 1024 * 1024
MAX_CATEGORIES = 10
MAX_CATEGORY_CHARS = 255
MAX_SUBSTITUTION_BYTES = 10_000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SCHEDULE_AHEAD = 72 * 3600  # send_at may be at most 72 hours ahead
MAX_GROUPS_TO_DISPLAY = 25  # asm.groups_to_display: at most 25 unsubscribe groups
SEND_AT_NOT_INT = (
    "The send_at parameter is expecting a Unix timestamp as an integer. We will send "
    "immediately if you include a send_at timestamp that is in the past."
)
SEND_AT_TOO_FAR = "Scheduling more than 72 hours in advance is forbidden."
BATCH_ID_NOT_STRING = "The batch_id must be a string."
UNKNOWN_BATCH_ID = "invalid batch id"
RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "x-sg-id", "x-sg-eid", "received", "dkim-signature", "Content-Type",
        "Content-Transfer-Encoding", "To", "From", "Subject", "Reply-To", "CC", "BCC",
    )
)  # fmt: skip
INVALID_ADDRESS = "Does not contain a valid address."
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^[^@\s\"<>(),;:\[\]\\]+@{_LABEL}(?:\.{_LABEL})+$")

ApiError = dict[str, Any]


def api_error(message: str, field: str | None = None) -> ApiError:
    """One error in SendGrid's response shape."""
    return {"message": message, "field": field, "help": None}


def valid_address(address: object) -> bool:
    """Whether ``address`` looks like an address SendGrid would accept."""
    return isinstance(address, str) and len(address) <= 320 and bool(_ADDRESS.match(address))


def check_mail_send(payload: Any, *, invalid: frozenset[str] = frozenset()) -> list[ApiError]:
    """Every reason SendGrid would refuse ``payload``; ``invalid`` lists addresses to refuse."""
    if not isinstance(payload, dict):
        return [api_error("The request body must be a JSON object.")]
    errors: list[ApiError] = []
    errors += _check_address(payload.get("from"), "from", required=True)
    errors += _check_address(payload.get("reply_to"), "reply_to", required=False)
    personalizations = payload.get("personalizations")
    errors += _check_personalizations(personalizations, invalid)
    every_has_subject = isinstance(personalizations, list) and all(
        isinstance(p, dict) and isinstance(p.get("subject"), str) and p["subject"]
        for p in personalizations
    )
    subject = payload.get("subject")
    if not (isinstance(subject, str) and subject) and not every_has_subject:
        errors.append(
            api_error(
                "The subject is required unless every personalization has a subject.",
                "subject",
            )
        )
    errors += _check_content(payload.get("content"))
    errors += _check_categories(payload.get("categories"))
    errors += _check_strings(payload.get("headers"), "headers", headers=True)
    errors += _check_strings(payload.get("custom_args"), "custom_args")
    errors += _check_asm(payload.get("asm"))
    return errors


def _integer(value: Any) -> bool:
    """A JSON integer (JSON's ``true`` is no group id, though Python calls it an int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_asm(value: Any) -> list[ApiError]:
    """The unsubscribe group: an object with an integer ``group_id`` (required) and at
    most 25 integer ``groups_to_display``, as SendGrid's Mail Send schema says."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [api_error("The asm parameter must be an object.", "asm")]
    errors: list[ApiError] = []
    if "group_id" not in value:
        errors.append(api_error("The asm.group_id parameter is required.", "asm.group_id"))
    elif not _integer(value["group_id"]):
        errors.append(api_error("The asm.group_id parameter must be an integer.", "asm.group_id"))
    shown = value.get("groups_to_display")
    if shown is not None:
        if not isinstance(shown, list) or not all(_integer(group) for group in shown):
            errors.append(
                api_error(
                    "The asm.groups_to_display parameter must be an array of integers.",
                    "asm.groups_to_display",
                )
            )
        elif len(shown) > MAX_GROUPS_TO_DISPLAY:
            errors.append(
                api_error(
                    f"The asm.groups_to_display parameter may list at most "
                    f"{MAX_GROUPS_TO_DISPLAY} groups.",
                    "asm.groups_to_display",
                )
            )
    unknown = sorted(str(key) for key in value if key not in ("group_id", "groups_to_display"))
    if unknown:
        errors.append(api_error(f"Unknown asm parameter(s): {', '.join(unknown)}.", "asm"))
    return errors


def _check_address(value: Any, field: str, *, required: bool) -> list[ApiError]:
    if value is None and not required:
        return []
    if not isinstance(value, dict) or not valid_address(value.get("email")):
        return [api_error(INVALID_ADDRESS, f"{field}.email")]
    if not isinstance(value.get("name", ""), str):
        return [api_error("The name must be a string.", f"{field}.name")]
    return []


def _check_personalizations(value: Any, invalid: frozenset[str]) -> list[ApiError]:
    if not isinstance(value, list) or not value:
        return [api_error("You must have at least one personalization.", "personalizations")]
    if len(value) > MAX_PERSONALIZATIONS:
        return [
            api_error(
                f"The personalization block is limited to {MAX_PERSONALIZATIONS} "
                f"personalizations per API request. You have provided {len(value)}.",
                "personalizations",
            )
        ]
    errors: list[ApiError] = []
    seen: set[str] = set()
    total = 0
    for n, item in enumerate(value):
        where = f"personalizations.{n}"
        if not isinstance(item, dict):
            errors.append(api_error("Each personalization must be an object.", where))
            continue
        if not isinstance(item.get("to"), list) or not item["to"]:
            errors.append(api_error("The to array is required and must not be empty.", where))
        for kind in ("to", "cc", "bcc"):
            entries = item.get(kind) or []
            if not isinstance(entries, list):
                errors.append(api_error(f"The {kind} field must be an array.", f"{where}.{kind}"))
                continue
            total += len(entries)
            errors += _check_recipients(entries, f"{where}.{kind}", invalid, seen)
        errors += _check_personal_data(item, where)
    if total > MAX_RECIPIENTS:
        errors.append(
            api_error(
                f"There is a limit of {MAX_RECIPIENTS} total recipients (to + cc + bcc) per "
                f"request. You have provided {total}.",
                "personalizations",
            )
        )
    return errors


def _check_recipients(
    entries: list[Any], where: str, invalid: frozenset[str], seen: set[str]
) -> list[ApiError]:
    """Each address valid, not refused, and not named before in the request (``seen``)."""
    errors: list[ApiError] = []
    for m, entry in enumerate(entries):
        field = f"{where}.{m}.email"
        email = entry.get("email") if isinstance(entry, dict) else None
        if not valid_address(email) or str(email).lower() in invalid:
            errors.append(api_error(INVALID_ADDRESS, field))
        elif str(email).lower() in seen:
            errors.append(
                api_error(
                    "Each unique email address in the personalizations array should "
                    f"only be included once. You have included {email} more than once.",
                    field,
                )
            )
        else:
            seen.add(str(email).lower())
    return errors


def _check_personal_data(item: dict[str, Any], where: str) -> list[ApiError]:
    """A personalization's substitutions, headers and custom args: strings, within limits."""
    errors = _check_strings(item.get("substitutions"), f"{where}.substitutions")
    errors += _check_strings(item.get("headers"), f"{where}.headers", headers=True)
    errors += _check_strings(item.get("custom_args"), f"{where}.custom_args")
    if _size(item.get("substitutions")) > MAX_SUBSTITUTION_BYTES:
        errors.append(
            api_error(
                f"Substitutions may not exceed {MAX_SUBSTITUTION_BYTES} bytes per personalization.",
                f"{where}.substitutions",
            )
        )
    if _size(item.get("custom_args")) > MAX_CUSTOM_ARGS_BYTES:
        errors.append(
            api_error(
                f"Custom args may not exceed {MAX_CUSTOM_ARGS_BYTES} bytes.",
                f"{where}.custom_args",
            )
        )
    return errors


def _check_content(value: Any) -> list[ApiError]:
    if not isinstance(value, list) or not value:
        return [api_error("Unless a template is used, content is required.", "content")]
    errors: list[ApiError] = []
    types: list[str] = []
    for n, part in enumerate(value):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            errors.append(api_error("Each content part needs a type.", f"content.{n}.type"))
            continue
        types.append(part["type"])
        if not isinstance(part.get("value"), str) or not part["value"]:
            errors.append(
                api_error(
                    "The content value must be a string at least one character in length.",
                    f"content.{n}.value",
                )
            )
    expected = [t for t in ("text/plain", "text/html") if t in types]
    if types[: len(expected)] != expected or len(set(types)) != len(types):
        errors.append(
            api_error(
                "If present, text/plain and text/html may only be provided in the order "
                "of text/plain, then text/html, as the first parts, each once.",
                "content",
            )
        )
    return errors


def _check_categories(value: Any) -> list[ApiError]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
        return [api_error("Categories must be an array of non-empty strings.", "categories")]
    if len(value) > MAX_CATEGORIES:
        return [api_error(f"You may not have more than {MAX_CATEGORIES} categories.", "categories")]
    if any(len(c) > MAX_CATEGORY_CHARS for c in value):
        return [api_error(f"A category cannot be longer than {MAX_CATEGORY_CHARS}.", "categories")]
    return []


def _check_strings(value: Any, field: str, *, headers: bool = False) -> list[ApiError]:
    if value is None:
        return []
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return [api_error("Must be an object of string keys and string values.", field)]
    if headers:
        reserved = sorted(k for k in value if k.lower() in RESERVED_HEADERS)
        if reserved:
            return [api_error(f"These headers are reserved: {', '.join(reserved)}.", field)]
    return []


def _size(value: Any) -> int:
    if not isinstance(value, dict):
        return 0
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in value.items())


def check_schedule(
    payload: Any, *, now: float, known_batch: Callable[[str], bool]
) -> list[ApiError]:
    """SendGrid's refusals of ``send_at`` (top level and per personalization) and ``batch_id``."""
    if not isinstance(payload, dict):
        return []
    errors = _check_send_at(payload.get("send_at"), "send_at", now)
    for n, item in enumerate(payload.get("personalizations") or []):
        if isinstance(item, dict):
            errors += _check_send_at(item.get("send_at"), f"personalizations.{n}.send_at", now)
    batch_id = payload.get("batch_id")
    if batch_id is not None:
        if not isinstance(batch_id, str):
            errors.append(api_error(BATCH_ID_NOT_STRING, "batch_id"))
        elif not known_batch(batch_id):
            errors.append(api_error(UNKNOWN_BATCH_ID, "batch_id"))
    return errors


def due_times(payload: dict[str, Any], now: float) -> list[float]:
    """When each personalization of a valid request is due: its send_at, the request's, or now."""
    default = payload.get("send_at", now)
    return [float(p.get("send_at", default)) for p in payload["personalizations"]]


def _check_send_at(value: Any, field: str, now: float) -> list[ApiError]:
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return [api_error(SEND_AT_NOT_INT, field)]
    if value > now + MAX_SCHEDULE_AHEAD:
        return [api_error(SEND_AT_TOO_FAR, field)]
    return []
