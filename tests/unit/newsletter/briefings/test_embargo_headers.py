"""Embargo and expiry in both briefing forms and in the content value."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError
from rich.console import Console

from newsletter.briefings.display import render_briefing
from newsletter.briefings.parser import briefing_json_schema, parse_json, parse_text
from newsletter.briefings.services import ImportAction, import_content
from newsletter.content.briefing import BriefingContent
from newsletter.db import Database
from newsletter.errors import InvalidInputError

LEDE = "What's happened\nThe bridge reopened on Monday.\n"


def text_fails(text: str, message: str) -> None:
    """Assert that parsing ``text`` (as b.txt) fails with exactly ``message`` at the start."""
    with pytest.raises(InvalidInputError) as caught:
        parse_text(text, filename="b.txt")
    assert str(caught.value).startswith(message), str(caught.value)


def doc(**fields: Any) -> str:
    """A JSON briefing with a one-paragraph lede plus ``fields``."""
    return json.dumps({"title": "Bridge", "lede": ["The bridge reopened on Monday."], **fields})


def json_fails(data: str, message: str) -> None:
    """Assert that ``data`` (as b.json) is refused with a message starting with ``message``."""
    with pytest.raises(InvalidInputError) as caught:
        parse_json(data, filename="b.json")
    assert str(caught.value).startswith(message), str(caught.value)


def test_text_headers_are_read_with_their_offsets() -> None:
    """Embargo and Expires are read, in any case, as aware times keeping their offsets."""
    content = parse_text(
        "Title: Bridge\nembargo: 2026-12-04 06:00+01:00\nEXPIRES: 2026-12-10T00:00:00Z\n\n" + LEDE
    )
    assert content.embargo == datetime(2026, 12, 4, 5, 0, tzinfo=UTC)
    assert content.embargo is not None
    assert content.embargo.utcoffset() == timedelta(hours=1)
    assert content.expires == datetime(2026, 12, 10, tzinfo=UTC)


def test_headers_are_optional() -> None:
    """Without the headers a briefing has neither embargo nor expiry."""
    content = parse_text(LEDE)
    assert content.embargo is None
    assert content.expires is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Embargo: tomorrow", "b.txt:2: header “Embargo” “tomorrow” is not an ISO 8601 date"),
        (
            "Embargo: 2026-12-04T06:00:00",
            "b.txt:2: header “Embargo” “2026-12-04T06:00:00” needs a time and a UTC offset",
        ),
        ("Expires: 2026-12-04", "b.txt:2: header “Expires” “2026-12-04” needs a time and a UTC"),
        ("Expires: 31/12/2026 10:00", "b.txt:2: header “Expires” “31/12/2026 10:00” is not an"),
        ("Embargo:", "b.txt:2: header “Embargo” is empty"),
    ],
)
def test_bad_times_are_refused_naming_header_and_line(header: str, message: str) -> None:
    """A time that is not ISO 8601, or has no UTC offset, is refused like a bad Published."""
    text_fails(f"Title: Bridge\n{header}\n\n{LEDE}", message)


def test_repeated_embargo_is_refused() -> None:
    """An Embargo header given twice names both lines."""
    text_fails(
        "Embargo: 2026-12-04T06:00:00Z\nEmbargo: 2026-12-05T06:00:00Z\n\n" + LEDE,
        "b.txt:2: header “Embargo” given twice (first on line 1)",
    )


@pytest.mark.parametrize("order", ["embargo first", "expires first"])
def test_expiry_not_after_embargo_is_refused_on_the_expires_line(order: str) -> None:
    """Expires at or before Embargo is refused on the Expires line, naming the Embargo line."""
    embargo, expires = "Embargo: 2026-12-04T06:00:00+01:00", "Expires: 2026-12-04T05:00:00Z"
    lines = [embargo, expires] if order == "embargo first" else [expires, embargo]
    expires_line = lines.index(expires) + 2
    embargo_line = lines.index(embargo) + 2
    text_fails(
        "Title: Bridge\n" + "\n".join(lines) + "\n\n" + LEDE,
        f"b.txt:{expires_line}: header “Expires” (2026-12-04T05:00:00+00:00) must be later than "
        f"“Embargo” (2026-12-04T06:00:00+01:00, line {embargo_line})",
    )


def test_unknown_header_message_lists_the_new_keys() -> None:
    """The list of allowed keys names Embargo and Expires."""
    text_fails("Embrago: 2026-12-04T06:00:00Z\n\n" + LEDE, "b.txt:1: unknown header key “Embrago”")
    with pytest.raises(InvalidInputError, match="Published, Embargo, Expires, Source"):
        parse_text("Embrago: 2026-12-04T06:00:00Z\n\n" + LEDE)


def test_json_fields_are_read() -> None:
    """The JSON form takes embargo and expires as ISO 8601 strings with an offset."""
    content = parse_json(doc(embargo="2026-12-04T06:00:00+01:00", expires="2026-12-10T00:00:00Z"))
    assert content.embargo == datetime(2026, 12, 4, 5, tzinfo=UTC)
    assert content.expires == datetime(2026, 12, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"embargo": "2026-12-04T06:00:00"}, "b.json: $.embargo: Input should have timezone"),
        ({"expires": "soon"}, "b.json: $.expires: Input should be a valid datetime"),
        (
            {"embargo": "2026-12-04T06:00:00Z", "expires": "2026-12-04T06:00:00Z"},
            "b.json: $.expires: the expiry 2026-12-04T06:00:00+00:00 must be later than the "
            "embargo 2026-12-04T06:00:00+00:00",
        ),
    ],
)
def test_bad_json_times_name_the_field(fields: dict[str, Any], message: str) -> None:
    """A naive or malformed time, or an expiry not after the embargo, names its JSON path."""
    json_fails(doc(**fields), message)


def test_text_and_json_agree() -> None:
    """The same embargo and expiry in both forms give the same content."""
    text = parse_text(
        "Title: Bridge\nEmbargo: 2026-12-04T06:00:00Z\nExpires: 2026-12-05T06:00:00Z\n\n"
        "What's happened\nThe bridge reopened on Monday.\n"
    )
    data = parse_json(doc(embargo="2026-12-04T06:00:00Z", expires="2026-12-05T06:00:00Z"))
    assert text.model_dump(exclude={"warnings"}) == data.model_dump(exclude={"warnings"})


def test_schema_describes_both_fields() -> None:
    """The published JSON Schema has embargo and expires as optional date-times."""
    schema = briefing_json_schema()
    for name in ("embargo", "expires"):
        field = schema["properties"][name]
        assert {"type": "string", "format": "date-time"} in field["anyOf"]
        assert "UTC offset" in field["description"]
        assert name not in schema["required"]
    assert "later than the embargo" in schema["properties"]["expires"]["description"]


def test_content_refuses_expiry_before_embargo() -> None:
    """The content value itself refuses an expiry not after the embargo (editors' forms too)."""
    with pytest.raises(ValidationError, match="must be later than the embargo"):
        BriefingContent(
            title="Bridge",
            slug="bridge",
            lede=("The bridge reopened.",),
            embargo=datetime(2026, 12, 4, tzinfo=UTC),
            expires=datetime(2026, 12, 3, tzinfo=UTC),
        )


def test_embargoed_and_expired_at_a_moment() -> None:
    """Embargoed strictly before the embargo; expired from the expiry on."""
    at = datetime(2026, 12, 4, 6, tzinfo=UTC)
    content = parse_json(doc(embargo=at.isoformat(), expires=(at + timedelta(days=1)).isoformat()))
    assert content.embargoed(at - timedelta(seconds=1))
    assert not content.embargoed(at)
    assert not content.expired(at + timedelta(days=1, seconds=-1))
    assert content.expired(at + timedelta(days=1))
    plain = parse_json(doc())
    assert not plain.embargoed(at)
    assert not plain.expired(at)


def test_hash_changes_with_embargo_and_expiry_but_not_for_older_briefings() -> None:
    """Setting or moving either time makes a new hash; a briefing without them keeps its old one."""
    plain = parse_json(doc())
    embargoed = parse_json(doc(embargo="2026-12-04T06:00:00Z"))
    moved = parse_json(doc(embargo="2026-12-04T07:00:00Z"))
    expiring = parse_json(doc(expires="2026-12-04T06:00:00Z"))
    assert len({plain.content_hash(), embargoed.content_hash(), moved.content_hash()}) == 3
    assert expiring.content_hash() not in {plain.content_hash(), embargoed.content_hash()}
    # The hash of a briefing without the new fields is computed as before they existed.
    data = plain.model_dump(mode="json", exclude={"warnings", "embargo", "expires"})
    encoded = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    assert plain.content_hash() == hashlib.sha256(encoded).hexdigest()


def test_same_instant_in_another_zone_is_the_same_embargo() -> None:
    """An embargo written with another offset is the same instant, its offset kept as written."""
    a = parse_json(doc(embargo="2026-12-04T06:00:00Z"))
    b = parse_json(doc(embargo="2026-12-04T07:00:00+01:00"))
    assert a.embargo == b.embargo
    assert b.embargo is not None
    assert b.embargo.tzinfo == timezone(timedelta(hours=1))


def test_show_lists_embargo_and_expiry() -> None:
    """``briefings show`` prints the embargo and the expiry with their offsets."""
    content = parse_json(doc(embargo="2026-12-04T06:00:00+01:00", expires="2026-12-10T00:00:00Z"))
    summary = {
        "slug": "bridge",
        "id": 1,
        "state": "draft",
        "revision": 1,
        "approved_revision": None,
    }
    console = Console(width=100, record=True)
    console.print(render_briefing(summary, content))
    text = console.export_text()
    assert "embargo  2026-12-04T06:00:00+01:00" in text
    assert "expires  2026-12-10T00:00:00+00:00" in text


def test_setting_or_moving_an_embargo_makes_a_new_revision(database: Database) -> None:
    """Re-importing with an embargo added or moved is a revision; the same text again is not."""
    steps = [
        (doc(), ImportAction.CREATED),
        (doc(embargo="2026-12-04T06:00:00Z"), ImportAction.REVISED),
        (doc(embargo="2026-12-04T06:00:00+00:00"), ImportAction.UNCHANGED),  # same value
        (doc(embargo="2026-12-04T07:00:00Z"), ImportAction.REVISED),
        (doc(embargo="2026-12-04T07:00:00Z", expires="2026-12-05T00:00:00Z"), ImportAction.REVISED),
    ]
    with database.session() as session:
        for data, action in steps:
            assert import_content(session, parse_json(data)).action is action, data
