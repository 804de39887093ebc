"""Property: whatever the input, the parser returns content or raises InvalidInputError."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.briefings import parser
from newsletter.content.briefing import BriefingContent
from newsletter.errors import InvalidInputError

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TEXT_PREFIX = re.compile(r"^f\.txt:\d+: \S")
JSON_PREFIX = re.compile(r"^f\.json: \$\S*: \S")
# A .txt file whose first non-space character is "{" is read as JSON.
ANY_TXT_PREFIX = re.compile(r"^f\.txt(?::\d+|: \$\S*): \S")

# Lines that steer random text into every branch of the text parser.
LINES = st.one_of(
    st.sampled_from(
        [
            "",
            "-",
            "–",
            "What's happened",
            "what’s happened?",
            "What's behind the headline?",
            "What the papers say",
            "How we got here",
            "Go deeper",
            "Common question",
            "More on these topics",
            "Title: A title",
            "Slug: a-slug",
            "Topics: One, Two",
            "Published: 2024-05-01T07:00:00+02:00",
            "Published: 2024-05-01",
            "Embargo: 2024-05-01T08:00:00+02:00",
            "Expires: 2024-05-01T07:00:00+02:00",
            "Expires: 2024-05-02T07:00:00Z",
            "Priority: 3",
            "URL: https://example.org/x",
            "Source: desk",
            "Author: me",
            "Short Heading",
            "Is this a question?",
            "A paragraph that ends properly.",
            "Lyon, a city, is old.",
            "Truncated text ends mid",
            ", no name",
        ]
    ),
    st.text(max_size=40),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "title",
        "slug",
        "lede",
        "behind_the_headline",
        "what_the_papers_say",
        "how_we_got_here",
        "questions",
        "topics",
        "url",
        "source",
        "published",
        "embargo",
        "expires",
        "priority",
        "heading",
        "paragraphs",
        "question",
        "answer",
        "name",
        "description",
    ]
)
BRIEFING_DICTS = st.dictionaries(
    KEYS,
    st.recursive(
        JSON_VALUES,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3)
        ),
        max_leaves=10,
    ),
    max_size=6,
).map(lambda d: {"lede": ["A lede."], **d})


def outcome(call: Callable[[], BriefingContent], prefix: re.Pattern[str]) -> None:
    """Run a parse; it must return content or raise InvalidInputError with the right prefix."""
    error: InvalidInputError | None = None
    try:
        result = call()
    except InvalidInputError as exc:
        error = exc
    if error is not None:
        assert prefix.match(str(error)), str(error)
    else:
        assert isinstance(result, BriefingContent)
        result.model_dump_json()


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    """Random bytes as text or JSON files never raise anything but InvalidInputError."""
    outcome(lambda: parser.parse_bytes(data, filename="f.json"), JSON_PREFIX)
    outcome(lambda: parser.parse_bytes(data, filename="f.txt"), ANY_TXT_PREFIX)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    """Random text never raises anything but InvalidInputError naming file and line."""
    outcome(lambda: parser.parse_text(text, filename="f.txt"), TEXT_PREFIX)


@FUZZ
@given(st.lists(LINES, max_size=30), st.sampled_from(["\n", "\r\n", "\r"]))
def test_briefing_like_text(lines: list[str], newline: str) -> None:
    """Text assembled from headings, markers and header lines never escapes the error type."""
    outcome(lambda: parser.parse_text(newline.join(lines), filename="f.txt"), TEXT_PREFIX)


@FUZZ
@given(st.text(alphabet='{}[]":,0123456789.eE+-truefalsn \n\\u', max_size=80))
def test_json_ish_text(text: str) -> None:
    """Random JSON-looking text never raises anything but InvalidInputError naming the path."""
    outcome(lambda: parser.parse_json(text, filename="f.json"), JSON_PREFIX)


@FUZZ
@given(JSON_VALUES)
def test_random_json_values(value: Any) -> None:
    """Any JSON value is a briefing or a clean error."""
    outcome(lambda: parser.parse_json(json.dumps(value), filename="f.json"), JSON_PREFIX)


@FUZZ
@given(BRIEFING_DICTS)
def test_briefing_like_json(value: dict[str, Any]) -> None:
    """Objects with the briefing's own keys and random values are a briefing or a clean error."""
    outcome(lambda: parser.parse_json(json.dumps(value), filename="f.json"), JSON_PREFIX)


PARAGRAPHS = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
    min_size=1,
    max_size=60,
)


@FUZZ
@given(st.lists(PARAGRAPHS, min_size=9, max_size=9))
def test_random_paragraphs_in_a_briefing_skeleton(words: list[str]) -> None:
    """Any paragraph text inside a well-formed briefing parses or gives a clean error."""
    lede, sub, para, papers, past, question, answer, topic, other = words
    text = (
        f"What's happened\n{lede}\nWhat's behind the headline?\n{sub}\n{para}\n"
        f"What the papers say\n{papers}\nHow we got here\n{past}\n"
        f"Go deeper\n-\n{question}?\n{answer}\nMore on these topics\n-\n{topic}\n-\n{other}\n"
    )
    outcome(lambda: parser.parse_text(text, filename="f.txt"), TEXT_PREFIX)
