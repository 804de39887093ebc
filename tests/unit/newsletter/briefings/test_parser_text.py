"""Reading rules of the plain-text briefing format (newsletter.briefings.textform)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from newsletter.briefings.parser import parse_text
from newsletter.briefings.textlines import heading_key
from newsletter.briefings.textsections import is_subheading
from newsletter.content.briefing import WarningCode
from newsletter.errors import InvalidInputError

LEDE = "What's happened\nThe bridge reopened on Monday.\n"


def fails(text: str, message: str) -> None:
    """Assert that parsing ``text`` (as b.txt) fails with a message starting with ``message``."""
    with pytest.raises(InvalidInputError) as caught:
        parse_text(text, filename="b.txt")
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize(
    "line",
    [
        "What's happened",
        "what’s happened?",
        "  WHAT‘S   HAPPENED  ",
        "What`s happened",
    ],
)
def test_headings_match_loosely(line: str) -> None:
    """Headings match ignoring case, spacing, the final '?' and the apostrophe's shape."""
    assert heading_key(line) == "lede"


def test_behind_heading_with_or_without_question_mark() -> None:
    """'What's behind the headline' is recognised with and without its question mark."""
    assert heading_key("What's behind the headline?") == "behind_the_headline"
    assert heading_key("What’s behind the headline") == "behind_the_headline"
    assert heading_key("What is happening") is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Strategic Alliance Deepens", True),
        ("Costs, Risks and Rewards", True),
        ("A paragraph that ends with a full stop.", False),
        ("Is this a heading?", False),
        ("Quoted end.”", False),
        ("one two three four five six seven eight nine ten eleven twelve thirteen", False),
        ("x" * 121, False),
    ],
)
def test_subheading_shape(line: str, expected: bool) -> None:
    """A sub-heading is short (≤ 12 words, ≤ 120 chars) with no final punctuation."""
    assert is_subheading(line) is expected


def test_text_stays_as_written() -> None:
    """Ampersands, angle brackets, quotes and non-ASCII letters survive unchanged."""
    raw = "Zürich & São Paulo say <b>“hello”</b> & 'bye' — 5 < 6."
    content = parse_text(f"What's happened\n{raw}\n")
    assert content.lede == (raw,)


def test_crlf_and_cr_line_endings_and_blank_lines() -> None:
    """CRLF, lone CR and blank lines anywhere are accepted and line numbers still count."""
    text = "\r\n\r\nWhat's happened\r\n\r\nFirst.\rSecond\r\n"
    content = parse_text(text)
    assert content.lede == ("First.", "Second")
    truncated = [w for w in content.warnings if w.code is WarningCode.TRUNCATED]
    assert truncated[0].line == 6


def test_unicode_line_separators_are_not_line_breaks() -> None:
    """Only \\n, \\r\\n and \\r end lines; a form feed is refused rather than split on."""
    fails(LEDE + "A\x0cB.\n", "b.txt:3: character U+000C at column 2 is not allowed")
    content = parse_text(LEDE.replace("Monday.", "Monday.\u2028Tuesday."))
    assert len(content.lede) == 1


def test_lone_surrogate_is_refused() -> None:
    """A lone surrogate (possible in a Python str) is refused with its line."""
    fails(LEDE + "bad \ud800 text.\n", "b.txt:3: character U+D800 at column 5")


def test_header_fields_are_read() -> None:
    """Every header key is read into its field, keys case-insensitively."""
    content = parse_text(
        "TITLE: Bridge reopens\nslug: bridge-reopens\nPublished: 2024-05-01T07:30:00Z\n"
        "Source: Desk & Co\nurl: https://example.org/b?x=1&y=2\nPriority: -7\n\n" + LEDE
    )
    assert content.title == "Bridge reopens"
    assert not content.title_derived
    assert content.slug == "bridge-reopens"
    assert content.published == datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
    assert content.source == "Desk & Co"
    assert content.url == "https://example.org/b?x=1&y=2"
    assert content.priority == -7
    assert all(w.code is not WarningCode.DERIVED_TITLE for w in content.warnings)


def test_published_keeps_its_offset() -> None:
    """A Published time with an offset keeps that offset."""
    content = parse_text("Published: 2024-05-01 09:00+02:00\n\n" + LEDE)
    assert content.published is not None
    assert content.published.utcoffset() == timedelta(hours=2)
    assert content.published.tzinfo == timezone(timedelta(hours=2))


def test_header_may_run_straight_into_the_first_heading() -> None:
    """The header block may end at the What's happened heading without a blank line."""
    assert parse_text("Title: Bridge\n" + LEDE).title == "Bridge"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Slug: Not A Slug", "b.txt:1: header “Slug” “Not A Slug” must be"),
        ("Slug: " + "a" * 121, "b.txt:1: header “Slug”"),
        ("URL: example.org", "b.txt:1: header “URL” “example.org” must be an http"),
        ("Priority: 101", "b.txt:1: header “Priority” “101” must be a whole number"),
        ("Priority: ٣", "b.txt:1: header “Priority”"),
        ("Published: soon", "b.txt:1: header “Published” “soon” is not an ISO 8601"),
        ("Published: 2024-05-01", "b.txt:1: header “Published” “2024-05-01” needs a time"),
        ("Topics: A,, B", "b.txt:1: header “Topics” has an empty name"),
        ("Topics: Rail, rail", "b.txt:1: header “Topics” lists “rail” twice"),
        ("Title:   ", "b.txt:1: header “Title” is empty"),
        ("Title: a\nTitle: b", "b.txt:2: header “Title” given twice (first on line 1)"),
        ("Title: " + "x" * 301, "b.txt:1: title: String should have at most 300 characters"),
        ("Title: ok\nno colon here", "b.txt:2: expected a “Key: value” header line"),
        ("Note: hi", "b.txt:1: unknown header key “Note”; allowed keys: Title, Slug, Topics"),
    ],
)
def test_bad_header_values_are_refused(header: str, message: str) -> None:
    """A bad header value is refused naming its line and what was expected."""
    fails(f"{header}\n\n{LEDE}", message)


def test_header_without_briefing() -> None:
    """A header block with nothing after it says the heading was expected."""
    fails("Title: Bridge\n", "b.txt:1: expected the heading “What's happened”")
    fails("Title: Bridge\n\n\n", "b.txt:1: expected the heading “What's happened”")


def test_another_heading_first_is_named() -> None:
    """A file opening with another known heading says which heading it found."""
    fails("Go deeper\n-\nWhy?\nBecause.\n", "b.txt:1: expected the heading “What's happened”")
    fails("Go deeper\n", "b.txt:1: expected the heading")


def test_headings_must_keep_their_order() -> None:
    """A known heading before one that must precede it is refused as misplaced."""
    text = LEDE + "More on these topics\n-\nX is y.\nGo deeper\n-\nWhy?\nBecause.\n"
    fails(text, "b.txt:6: the heading “Go deeper” is misplaced")


@pytest.mark.parametrize(
    "heading", ["What the papers say", "How we got here", "Go deeper", "More on these topics"]
)
def test_heading_with_nothing_under_it_is_refused(heading: str) -> None:
    """An optional heading that is present must have content under it."""
    fails(f"{LEDE}{heading}\n\n", f"b.txt:3: the heading “{heading}” has no")


def test_empty_lede_and_empty_behind_are_refused() -> None:
    """What's happened needs a paragraph and a present behind-the-headline needs a sub-heading."""
    fails("What's happened\nHow we got here\nX.\n", "b.txt:1: the heading “What's happened” has")
    fails(LEDE + "What's behind the headline?\n", "b.txt:3: the heading “What's behind")


def test_bullet_outside_item_sections_is_refused() -> None:
    """A '-' line is only an item marker in Go deeper and More on these topics."""
    fails(LEDE + "How we got here\n-\nX.\n", "b.txt:4: a line holding only “-” opens an item")
    fails(LEDE + "What's behind the headline?\nA Heading\n—\n", "b.txt:5: a line holding only")


def test_behind_the_headline_pairs() -> None:
    """Sub-headings collect the paragraphs below them."""
    content = parse_text(
        LEDE + "What's behind the headline?\nFirst Point\nOne.\nTwo.\nSecond Point\nThree.\n"
    )
    assert [(s.heading, s.paragraphs) for s in content.behind_the_headline] == [
        ("First Point", ("One.", "Two.")),
        ("Second Point", ("Three.",)),
    ]


def test_behind_must_open_with_a_subheading() -> None:
    """A paragraph where the first sub-heading should be is refused."""
    fails(LEDE + "What's behind the headline?\nA paragraph.\n", "b.txt:4: expected a sub-heading")


def test_subheading_followed_by_subheading_is_refused() -> None:
    """Every sub-heading needs at least one paragraph before the next sub-heading."""
    text = LEDE + "What's behind the headline?\nFirst Point\nSecond Point\nText.\n"
    fails(text, "b.txt:4: the sub-heading “First Point” has no paragraph")


def test_go_deeper_items_with_and_without_label() -> None:
    """Go deeper reads '-' items of a question and answer paragraphs, label optional."""
    for label in ("Common question\n", "Common Questions:\n", ""):
        content = parse_text(
            f"{LEDE}Go deeper\n{label}-\nIs it safe?\nYes.\nEngineers agree.\n"
            "–\n“Why now?”\nBecause.\n"
        )
        assert [(q.question, q.answer) for q in content.questions] == [
            ("Is it safe?", ("Yes.", "Engineers agree.")),
            ("“Why now?”", ("Because.",)),
        ]


def test_go_deeper_errors_come_in_document_order() -> None:
    """The first broken item is reported, not a later one."""
    text = LEDE + "Go deeper\n-\nIs it safe?\n-\nNot a question.\n"
    fails(text, "b.txt:5: the question “Is it safe?” has no answer")


def test_go_deeper_label_only_is_empty() -> None:
    """A Go deeper holding only its label has no question."""
    fails(LEDE + "Go deeper\nCommon question\n", "b.txt:3: the heading “Go deeper” has no question")


def test_go_deeper_needs_a_bullet_first() -> None:
    """Text before the first '-' item of Go deeper is refused."""
    fails(LEDE + "Go deeper\nWhy?\n", "b.txt:4: expected a line holding only “-”")


def test_topics_need_a_bullet_first_and_one_paragraph_each() -> None:
    """Topics open with '-', hold one paragraph, and cannot be empty."""
    fails(LEDE + "More on these topics\nX is y.\n", "b.txt:4: expected a line holding only “-”")
    fails(
        LEDE + "More on these topics\n-\nX is y.\nZ is w.\n",
        "b.txt:6: a topic holds one paragraph; the topic opened on line 4",
    )
    fails(LEDE + "More on these topics\n-\n-\nX is y.\n", "b.txt:4: this “-” item has nothing")
    fails(LEDE + "More on these topics\n-\n, and more.\n", "b.txt:5: expected the topic's name")


def test_topic_names_are_derived() -> None:
    """Topic names come from the start of each topic paragraph."""
    content = parse_text(
        LEDE + "More on these topics\n-\nLyon, a city in France, is old.\n"
        "-\nOleksandr Petrovych Bondar is a fictional engineer.\n"
    )
    assert content.topic_names == ("Lyon", "Oleksandr Bondar")


def test_topics_header_overrides_by_position() -> None:
    """Header names replace derived names by position; extra paragraphs keep derived names."""
    content = parse_text(
        "Topics: Rail strikes\n\n" + LEDE + "More on these topics\n-\nStrikes are common.\n"
        "-\nLyon is a city.\n"
    )
    assert [(t.name, t.description) for t in content.topics] == [
        ("Rail strikes", "Strikes are common."),
        ("Lyon", "Lyon is a city."),
    ]


def test_topics_header_without_topic_section() -> None:
    """Header topics with no topic paragraphs become topics with empty descriptions."""
    content = parse_text("Topics: Rail, Lyon\n\n" + LEDE)
    assert [(t.name, t.description) for t in content.topics] == [("Rail", ""), ("Lyon", "")]
    assert "More on these topics" not in " ".join(w.message for w in content.warnings)


def test_uncertain_topic_name_is_flagged() -> None:
    """A topic paragraph with no name separator gets a guessed name and a warning on its line."""
    content = parse_text(LEDE + "More on these topics\n-\nTrains run late most days now.\n")
    assert content.topic_names == ("Trains run late most",)
    warning = next(w for w in content.warnings if w.code is WarningCode.DERIVED_TOPICS)
    assert warning.line == 5


def test_derived_title_is_flagged_on_the_lede_line() -> None:
    """Without a Title header, the title comes from the lede's first sentence, flagged."""
    content = parse_text("\n\n" + LEDE)
    assert content.title == "The bridge reopened on Monday"
    assert content.title_derived
    assert content.slug == "the-bridge-reopened-on-monday"
    assert content.warnings[0].code is WarningCode.DERIVED_TITLE
    assert content.warnings[0].line == 4


def test_truncation_is_flagged_per_block() -> None:
    """The last paragraph of each block that does not end a sentence is flagged with its line."""
    content = parse_text(
        "What's happened\nThe bridge reo\n"
        "What's behind the headline?\nA Point\n"
        "A long paragraph that goes on for more than twelve words and then stops mid\n"
        "What the papers say\nPapers say so.\n"
        "How we got here\nSlowly and\n"
        "Go deeper\n-\nWhy?\nBecause it\n"
        "More on these topics\n-\nLyon is a city (in France).\n-\nRail is a d\n"
    )
    truncated = [w.line for w in content.warnings if w.code is WarningCode.TRUNCATED]
    assert truncated == [2, 5, 9, 13, 18]


def test_missing_sections_are_listed_once_each() -> None:
    """Each absent optional section gets one MISSING_SECTION warning naming it."""
    content = parse_text(LEDE + "How we got here\nSlowly.\n")
    missing = [w.message for w in content.warnings if w.code is WarningCode.MISSING_SECTION]
    assert missing == [
        "The section “What's behind the headline?” is missing.",
        "The section “What the papers say” is missing.",
        "The section “Go deeper” is missing.",
        "The section “More on these topics” is missing.",
    ]


def test_overlong_question_names_its_line() -> None:
    """A question longer than the content model allows is refused on its own line."""
    text = LEDE + "Go deeper\n-\n" + "why " * 130 + "?\nBecause.\n"
    fails(text, "b.txt:5: questions[0].question: String should have at most 500")


def test_title_without_slug_material_needs_a_slug() -> None:
    """A title with no ASCII letters or digits cannot give a slug; the header slug fixes it."""
    fails("Title: ¿¡—!?\n\n" + LEDE, "b.txt:1: title: cannot make a slug from “¿¡—!?”")
    fails("What's happened\n— …\n", "b.txt:2: lede[0]: cannot make a slug")
    assert parse_text("Title: ¿¡—!?\nSlug: b\n\n" + LEDE).slug == "b"
