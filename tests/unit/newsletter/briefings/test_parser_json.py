"""The JSON import form (newsletter.briefings.jsonform)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from newsletter.briefings.jsonform import BriefingInput
from newsletter.briefings.parser import parse_json
from newsletter.content.briefing import WarningCode
from newsletter.errors import InvalidInputError


def doc(**fields: Any) -> str:
    """A JSON briefing with a one-paragraph lede plus ``fields``."""
    return json.dumps({"lede": ["The bridge reopened on Monday."], **fields})


def fails(data: str | bytes, message: str) -> None:
    """Assert that ``data`` (as b.json) is refused with a message starting with ``message``."""
    with pytest.raises(InvalidInputError) as caught:
        parse_json(data, filename="b.json")
    assert str(caught.value).startswith(message), str(caught.value)


def test_minimal_json_derives_title_slug_and_warnings() -> None:
    """Title and slug may be omitted: they are derived as for text, with the same warnings."""
    content = parse_json(doc())
    assert content.title == "The bridge reopened on Monday"
    assert content.slug == "the-bridge-reopened-on-monday"
    assert content.title_derived
    codes = [w.code for w in content.warnings]
    assert codes == [WarningCode.DERIVED_TITLE] + [WarningCode.MISSING_SECTION] * 5
    assert all(w.line is None for w in content.warnings)


def test_full_json_keeps_given_values() -> None:
    """Given fields are kept as written, untrusted characters included."""
    content = parse_json(
        doc(
            title="Bridge <reopens> & more",
            slug="bridge",
            behind_the_headline=[{"heading": "Why", "paragraphs": ["Because."]}],
            what_the_papers_say=["Papers agree."],
            how_we_got_here=["Slowly."],
            questions=[{"question": "Safe?", "answer": ["Yes."]}],
            topics=[{"name": "Bridges", "description": "Bridges span rivers."}],
            url="https://example.org/b",
            source="Desk",
            published="2024-05-01T07:30:00+02:00",
            priority=-3,
        ).encode()
    )
    assert content.title == "Bridge <reopens> & more"
    assert not content.title_derived
    assert content.topic_names == ("Bridges",)
    assert content.priority == -3
    assert content.warnings == ()


def test_topic_name_is_derived_when_missing() -> None:
    """A topic without a name takes the entity name from its description."""
    content = parse_json(doc(topics=[{"description": "Lyon, a city, is old."}]))
    assert content.topic_names == ("Lyon",)


def test_uncertain_topic_name_is_flagged() -> None:
    """A guessed topic name from JSON carries a DERIVED_TOPICS warning."""
    content = parse_json(doc(topics=[{"description": "Rain fell all day long."}]))
    assert content.topic_names == ("Rain fell all day",)
    assert WarningCode.DERIVED_TOPICS in {w.code for w in content.warnings}


def test_topic_without_any_name_is_refused() -> None:
    """A topic with neither a name nor a findable one is refused at its path."""
    fails(doc(topics=[{}]), "b.json: $.topics[0]: a topic needs a name or a description")
    fails(doc(topics=[{"description": ", nothing."}]), "b.json: $.topics[0].name: no name given")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            '{"lede": ["a."],}',
            "b.json: $: invalid JSON at line 1 column 17: Expecting property name",
        ),
        ('{"lede": ["a."], "lede": ["b."]}', "b.json: $: invalid JSON: the key “lede” appears"),
        ('{"lede": ["a."], "priority": NaN}', "b.json: $: invalid JSON: NaN is not allowed"),
        ('{"lede": ["a."], "priority": 1' + "0" * 5000 + "}", "b.json: $: invalid JSON: a number"),
        ("[" * 100_000 + "]" * 100_000, "b.json: $: JSON nested 100000 levels deep; at most 32"),
        ('["a."]', "b.json: $: expected a JSON object holding a briefing"),
        ("", "b.json: $: invalid JSON at line 1 column 1"),
    ],
)
def test_json_syntax_errors(data: str, message: str) -> None:
    """Malformed JSON is refused with its line and column or the reason."""
    fails(data, message)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"colour": "red"}, "b.json: $.colour: Extra inputs are not permitted"),
        # A key that is not a plain name is quoted, so the path stays one word.
        ({"": 1}, 'b.json: $[""]: Extra inputs are not permitted'),
        ({"topics": [{"": 1}]}, 'b.json: $.topics[0][""]: Extra inputs are not permitted'),
        ({"a b: c": 1}, 'b.json: $["a\\u0020b:\\u0020c"]: Extra inputs'),
        ({"x\u001b]0;t\u0007": 1}, 'b.json: $["x\\u001b]0;t\\u0007"]: Extra inputs'),
        ({"lede": []}, "b.json: $.lede: Tuple should have at least 1 item"),
        (
            {"lede": ["  "]},
            "b.json: $.lede[0]: String should have at least 1 character; b.json: $.lede: Tuple",
        ),
        ({"lede": ["a\u0007"]}, "b.json: $.lede[0]: character U+0007 is not allowed"),
        ({"lede": ["a\ud800"]}, "b.json: $.lede[0]:"),
        ({"published": "2024-05-01T07:30:00"}, "b.json: $.published: Input should have timezone"),
        ({"priority": True}, "b.json: $.priority: Input should be a valid integer"),
        ({"priority": "5"}, "b.json: $.priority: Input should be a valid integer"),
        ({"priority": 101}, "b.json: $.priority: Input should be less than or equal to 100"),
        ({"slug": "Not a slug"}, "b.json: $.slug: String should match pattern"),
        ({"url": "ftp://x"}, "b.json: $.url: String should match pattern"),
        ({"title": "!!!"}, "b.json: $.title: cannot make a slug from “!!!”"),
        (
            {"questions": [{"question": "Q?", "answer": []}]},
            "b.json: $.questions[0].answer: Tuple should have at least 1 item",
        ),
        (
            {"topics": [{"name": "A", "description": "b\u0000"}]},
            "b.json: $.topics[0]: character U+0000 is not allowed",
        ),
    ],
)
def test_validation_errors_name_the_json_path(fields: dict[str, Any], message: str) -> None:
    """Each invalid field is refused naming its JSON path and what was expected."""
    fails(doc(**fields), message)


def test_every_error_is_reported() -> None:
    """When several fields are wrong, every one is named (it said "(and 2 more errors)")."""
    fails(
        json.dumps({"lede": [], "priority": "x", "colour": 1}),
        "b.json: $.lede: Tuple should have at least 1 item after validation, not 0; "
        "b.json: $.priority: Input should be a valid integer; "
        "b.json: $.colour: Extra inputs are not permitted",
    )


def test_bytes_input_is_decoded() -> None:
    """Bytes are decoded as UTF-8 with an optional BOM; bad bytes name the line."""
    assert parse_json(b"\xef\xbb\xbf" + doc().encode()).lede == ("The bridge reopened on Monday.",)
    fails(b'{"lede":\n["\xff"]}', "b.json: $: line 2: the file is not UTF-8 text")


def test_input_model_matches_the_content_fields() -> None:
    """The import form has the content fields minus warnings and title_derived."""
    from newsletter.content.briefing import BriefingContent

    content_fields = set(BriefingContent.model_fields) - {"warnings", "title_derived"}
    assert set(BriefingInput.model_fields) == content_fields
