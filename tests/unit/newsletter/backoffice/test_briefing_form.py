"""The briefing edit form: prefilling from a briefing, reading it back, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.backoffice.briefing_form import (
    FIELDS,
    LABELS,
    MAX_FIELD,
    FieldChange,
    FormInvalid,
    changes,
    fields_of,
    parse_form,
    split_paragraphs,
)
from newsletter.briefings.parser import parse_file
from newsletter.content.briefing import WarningCode

GOOD = Path(__file__).parents[3] / "fixtures" / "briefings" / "good"


def _problems(form: dict[str, str], slug: str | None = "flood-pact") -> list[tuple[str, str]]:
    with pytest.raises(FormInvalid) as caught:
        parse_form(form, slug)
    return [(p.field, p.message) for p in caught.value.problems]


def _minimal(**fields: str) -> dict[str, str]:
    return {"title": "Flood pact signed", "lede": "Two cities signed a pact.", **fields}


@pytest.mark.parametrize("name", ["full.txt", "header.txt", "structured.json", "truncated.txt"])
def test_every_briefing_survives_the_form_unchanged(name: str) -> None:
    """Prefilling the form and saving it untouched gives the same content (no new revision)."""
    content = parse_file(GOOD / name)
    again = parse_form(fields_of(content), content.slug)
    assert again.content_hash() == content.content_hash()
    assert again.title_derived == content.title_derived


def test_a_derived_title_is_left_empty_and_derived_again() -> None:
    """Saving the form does not confirm a derived title: it stays derived, with its warning."""
    content = parse_file(GOOD / "minimal.txt")
    assert content.title_derived
    fields = fields_of(content)
    assert fields["title"] == ""
    again = parse_form(fields, content.slug)
    assert again.title_derived
    assert again.title == content.title
    assert WarningCode.DERIVED_TITLE in {w.code for w in again.warnings}
    titled = parse_form({**fields, "title": "Flood pact"}, content.slug)
    assert (titled.title, titled.title_derived) == ("Flood pact", False)


def test_paragraphs_are_split_at_blank_lines_and_wrapped_lines_joined() -> None:
    """A hard-wrapped paragraph stays one paragraph; blank lines (CRLF too) separate them."""
    text = "First line\r\n  goes on.\r\n\r\n\r\nSecond.\n   \nThird.\n"
    assert split_paragraphs(text) == ["First line goes on.", "Second.", "Third."]


def test_groups_read_items_opened_by_double_hashes() -> None:
    """“## ” opens a sub-heading, a question or a topic; the paragraphs under it are its own."""
    content = parse_form(
        _minimal(
            behind_the_headline="## Costs\n\nSplit by population.\n\n## History\nFloods in 2021.",
            questions="##Who pays?\n\nBoth cities.\n\nEach its sensors.",
            topics="## C++\n\nA language.\n\n## Zürich",
        ),
        "flood-pact",
    )
    assert [(s.heading, s.paragraphs) for s in content.behind_the_headline] == [
        ("Costs", ("Split by population.",)),
        ("History", ("Floods in 2021.",)),
    ]
    assert [(q.question, q.answer) for q in content.questions] == [
        ("Who pays?", ("Both cities.", "Each its sensors."))
    ]
    assert [(t.name, t.description) for t in content.topics] == [
        ("C++", "A language."),
        ("Zürich", ""),
    ]


def test_group_syntax_errors_name_the_field_and_line() -> None:
    """Text before the first item, an empty “##” and an item without paragraphs are refused."""
    assert _problems(_minimal(behind_the_headline="\nStray text.\n## Costs\nPaid.")) == [
        ("behind_the_headline", "line 2: start with a line “## sub-heading” before any paragraph")
    ]
    assert _problems(_minimal(questions="## Who pays?\nBoth.\n##  \nText.")) == [
        ("questions", "line 3: write the question after “##”")
    ]
    assert _problems(_minimal(questions="## Who pays?\n\n## Why?\nBecause.")) == [
        ("questions", "line 1: the question “Who pays?” has no paragraph under it")
    ]
    assert _problems(_minimal(topics="## Zürich\nA city.\n\nIn Switzerland.")) == [
        ("topics", "line 1: the topic “Zürich” has 2 paragraphs; its description is one paragraph")
    ]


def test_every_problem_of_the_form_is_listed_at_once() -> None:
    """An empty lede, a bad group and a bad priority are reported together, each on its field."""
    problems = _problems({"lede": " \n ", "topics": "text", "priority": "high"})
    assert [field for field, _ in problems] == ["lede", "topics", "priority"]
    assert problems[2][1] == "a whole number from -100 to 100"


def test_import_checks_apply_and_name_the_field_and_item() -> None:
    """The import parser's errors come back on the field, with the item and paragraph."""
    assert _problems(_minimal(url="ftp://example.org/x")) == [
        ("url", "String should match pattern '^https?://\\S+$'")
    ]
    assert _problems(_minimal(priority="500")) == [
        ("priority", "Input should be less than or equal to 100")
    ]
    ((field, message),) = _problems(_minimal(published="2024-05-01T07:30:00"))
    assert field == "published"
    assert "timezone" in message
    ((field, message),) = _problems(_minimal(questions="## Why?\n\nFine.\n\nBad \x07 bell."))
    assert field == "questions"
    assert message.startswith("question 1, answer, paragraph 2: ")
    assert "U+0007" in message
    ((field, message),) = _problems(_minimal(title="x" * 301))
    assert field == "title"


def test_the_slug_is_fixed_by_the_caller_or_derived() -> None:
    """An existing briefing keeps its slug whatever the title; a new one derives it."""
    assert parse_form(_minimal(title="Another title"), "flood-pact").slug == "flood-pact"
    assert parse_form(_minimal(), None).slug == "flood-pact-signed"
    assert _problems(_minimal(title="ЖЖЖ"), None) == [
        ("title", "cannot make a slug from “ЖЖЖ”: it has no ASCII letters or digits; give a slug")
    ]


def test_an_oversized_field_is_refused_before_parsing() -> None:
    """A field longer than the limit is named, whatever else it holds."""
    assert _problems(_minimal(how_we_got_here="x" * (MAX_FIELD + 1))) == [
        ("how_we_got_here", f"at most {MAX_FIELD:,} characters")
    ]


def test_embargo_and_expiry_are_fields_checked_as_on_import() -> None:
    """Embargo and Expires round-trip; an expiry not after the embargo is refused on its field."""
    content = parse_form(
        _minimal(embargo="2030-05-01T07:00:00+02:00", expires="2030-06-01T00:00:00Z"), "x"
    )
    assert content.embargo is not None
    assert content.expires is not None
    assert content.embargo.isoformat() == "2030-05-01T07:00:00+02:00"
    fields = fields_of(content)
    assert (fields["embargo"], fields["expires"]) == (
        "2030-05-01T07:00:00+02:00",
        "2030-06-01T00:00:00+00:00",
    )
    assert parse_form(fields, "x").content_hash() == content.content_hash()
    ((field, message),) = _problems(
        _minimal(embargo="2030-05-01T07:00:00Z", expires="2030-05-01T06:00:00Z")
    )
    assert field == "expires"
    assert "must be later than the embargo" in message


_TEXT = st.text(alphabet=st.sampled_from("ab .?#\n\r\t-é<&\x07\ud800"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), _TEXT))
def test_any_form_gives_a_briefing_or_named_problems(form: dict[str, str]) -> None:
    """Whatever is typed, the form gives a briefing or ``FormInvalid`` naming known fields."""
    problems = []
    try:
        content = parse_form(form, "story")
    except FormInvalid as exc:
        problems = exc.problems
    if problems:
        assert all(p.field in LABELS and p.message for p in problems)
    else:
        assert content.slug == "story"
        assert parse_form(fields_of(content), "story").content_hash() == content.content_hash()


def test_changes_list_the_blocks_taken_out_and_put_in() -> None:
    """Paragraphs and items that differ are listed per field; equal fields are left out."""
    before = parse_form(
        _minimal(
            lede="Same first.\n\nOld second.",
            questions="## Who pays?\n\nBoth.\n\n## Why?\n\nFloods.",
        ),
        "x",
    )
    after = parse_form(
        _minimal(
            title="Flood pact signed at last",
            lede="Same first.\n\nNew second.",
            questions="## Who pays?\n\nBoth.\n\n## Why?\n\nFloods in 2021.",
            priority="3",
        ),
        "x",
    )
    assert changes(before, after) == [
        FieldChange("title", "Title", ("Flood pact signed",), ("Flood pact signed at last",)),
        FieldChange("lede", "What's happened", ("Old second.",), ("New second.",)),
        FieldChange(
            "questions", "Go deeper", ("## Why?\n\nFloods.",), ("## Why?\n\nFloods in 2021.",)
        ),
        FieldChange("priority", "Priority", ("0",), ("3",)),
    ]
    assert changes(after, after) == []
