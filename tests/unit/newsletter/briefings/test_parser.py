"""The parser's front door: format detection, decoding, files, fixtures and samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import newsletter
from newsletter.briefings import parser
from newsletter.content.briefing import BriefingContent
from newsletter.errors import InvalidInputError

FIXTURES = Path(__file__).parents[3] / "fixtures" / "briefings"
GOOD = sorted(p for p in (FIXTURES / "good").iterdir() if not p.name.endswith(".expected.json"))
SAMPLES = sorted((Path(newsletter.__file__).parent / "samples" / "briefings").glob("*.txt"))
LEDE = "What's happened\nThe bridge reopened on Monday.\n"


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_fixture_matches_its_golden_file(path: Path) -> None:
    """Each good fixture parses to exactly the structure in its reviewed golden file."""
    expected = json.loads(path.with_name(f"{path.stem}.expected.json").read_text("utf-8"))
    assert parser.parse_file(path).model_dump(mode="json") == expected


BAD = {
    "empty.txt": "empty.txt:1: the file is empty; expected the heading “What's happened”",
    "blank.txt": "blank.txt:1: the file is empty",
    "not-utf8.txt": "not-utf8.txt:2: the file is not UTF-8 text (byte 0xf6",
    "not-a-briefing.txt": "not-a-briefing.txt:1: expected the heading “What's happened”",
    "wrong-first-section.txt": "wrong-first-section.txt:2: expected the heading “What's happened”",
    "unknown-header.txt": "unknown-header.txt:2: unknown header key “Author”; allowed keys: Title,",
    "naive-published.txt": "naive-published.txt:2: header “Published” “2024-05-01T07:30:00” "
    "needs a time and a UTC offset",
    "expires-before-embargo.txt": "expires-before-embargo.txt:2: header “Expires” "
    "(2024-05-01T07:30:00+00:00) must be later than “Embargo” (2024-05-01T09:30:00+02:00, line 3)",
    "misplaced-heading.txt": "misplaced-heading.txt:5: the heading “What the papers say” is "
    "misplaced: it must come before “How we got here”",
    "repeated-heading.txt": "repeated-heading.txt:5: the heading “What the papers say” appears "
    "twice (first on line 3)",
    "item-without-question.txt": "item-without-question.txt:5: this “-” item has nothing after "
    "it; expected a question",
    "question-without-answer.txt": "question-without-answer.txt:6: the question “Is it safe?” "
    "has no answer",
    "question-not-a-question.txt": "question-not-a-question.txt:5: expected a question ending "
    "with “?”",
    "empty-topic.txt": "empty-topic.txt:6: this “-” item has nothing after it",
    "subheading-without-paragraph.txt": "subheading-without-paragraph.txt:6: the sub-heading "
    "“Political Credit” has no paragraph",
    "mistyped-heading.txt": "mistyped-heading.txt:3: unknown heading “What the paper say”: "
    "did you mean “What the papers say”?",
    "syntax.json": "syntax.json: $: invalid JSON at line 4 column 1:",
    "empty-answer.json": "empty-answer.json: $.questions[0].answer: Tuple should have at least 1",
    "unknown-field.json": "unknown-field.json: $.author: Extra inputs are not permitted",
}


@pytest.mark.parametrize(("name", "message"), sorted(BAD.items()))
def test_bad_fixture_is_refused_naming_file_line_and_expectation(name: str, message: str) -> None:
    """Each bad fixture raises InvalidInputError naming the file, the place and what was wrong."""
    path = FIXTURES / "bad" / name
    with pytest.raises(InvalidInputError) as caught:
        parser.parse_file(path)
    assert str(caught.value).startswith(f"{path.parent}/{message}")


def test_every_bad_fixture_has_an_expected_message() -> None:
    """No bad fixture sits in the folder untested."""
    assert {p.name for p in (FIXTURES / "bad").iterdir()} == set(BAD)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_shipped_samples_parse_as_full_briefings(path: Path) -> None:
    """Every shipped sample parses, with most sections filled and nothing truncated."""
    content = parser.parse_file(path)
    assert content.warnings == ()
    assert 2 <= len(content.behind_the_headline) <= 4
    assert content.what_the_papers_say
    assert content.how_we_got_here
    assert len(content.questions) == 2
    assert 3 <= len(content.topics) <= 5


def test_samples_carry_their_own_titles() -> None:
    """At least six samples ship, each with a Title header, so the demo shows no derived title."""
    contents = [parser.parse_file(path) for path in SAMPLES]
    assert len(SAMPLES) >= 6
    assert not any(content.title_derived for content in contents)
    assert all(path.read_text("utf-8").startswith("Title: ") for path in SAMPLES)


def test_bytes_pick_json_by_file_name() -> None:
    """A .json file name selects the JSON form even when the text does not start with a brace."""
    with pytest.raises(InvalidInputError, match=r"^b\.JSON: \$: invalid JSON at line 1"):
        parser.parse_bytes(LEDE.encode(), filename="b.JSON")


def test_bytes_pick_json_by_leading_brace_after_bom_and_spaces() -> None:
    """Text whose first non-space character is '{' is read as JSON, a UTF-8 BOM allowed."""
    data = b'\xef\xbb\xbf \n {"lede": ["The bridge reopened."]}'
    content = parser.parse_bytes(data, filename="b.txt")
    assert content.lede == ("The bridge reopened.",)


def test_bytes_default_to_plain_text_with_a_bom() -> None:
    """Other bytes are plain text; a UTF-8 BOM is dropped."""
    content = parser.parse_bytes(b"\xef\xbb\xbf" + LEDE.encode(), filename="b.txt")
    assert content.title == "The bridge reopened on Monday"


def test_bad_utf8_in_json_names_the_line() -> None:
    """A JSON file with a byte that is not UTF-8 is refused naming the line of that byte."""
    with pytest.raises(InvalidInputError, match=r"^b\.json: \$: line 3: the file is not UTF-8"):
        parser.parse_bytes(b'{\n"lede":\n["\xc3("]}', filename="b.json")


def test_bad_utf8_offset_counts_the_bom() -> None:
    """The reported offset of a bad byte is its offset in the file, BOM included."""
    with pytest.raises(InvalidInputError, match=r"^b\.txt:1: .*byte 0xff at offset 3\)"):
        parser.parse_bytes(b"\xef\xbb\xbf\xff", filename="b.txt")


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    """A missing file or a directory gives InvalidInputError naming the path."""
    with pytest.raises(InvalidInputError, match=r"missing\.txt: cannot read \(No such file"):
        parser.parse_file(tmp_path / "missing.txt")
    with pytest.raises(InvalidInputError, match=r": cannot read \("):
        parser.parse_file(tmp_path)


def test_text_and_json_forms_of_one_briefing_agree() -> None:
    """The same briefing written as text and as JSON parses to the same content."""
    text = parser.parse_text(
        "Title: Bridge reopens\n\nWhat's happened\nThe bridge reopened.\n"
        "Go deeper\n-\nIs it safe?\nYes.\nMore on these topics\n-\nOld Bridge is a bridge.\n"
    )
    data = parser.parse_json(
        json.dumps(
            {
                "title": "Bridge reopens",
                "lede": ["The bridge reopened."],
                "questions": [{"question": "Is it safe?", "answer": ["Yes."]}],
                "topics": [{"description": "Old Bridge is a bridge."}],
            }
        )
    )
    assert isinstance(text, BriefingContent)
    assert text.model_dump(exclude={"warnings"}) == data.model_dump(exclude={"warnings"})
    assert [w.code for w in text.warnings] == [w.code for w in data.warnings]


def test_schema_is_published_with_dialect_and_title() -> None:
    """The JSON Schema names its dialect and title and forbids unknown fields."""
    schema = parser.briefing_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Briefing"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["lede"]
    json.dumps(schema)
