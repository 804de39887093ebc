"""Template filters: wrapping, underlining, colours and dates."""

from __future__ import annotations

import textwrap
from datetime import date

import pytest

from newsletter import templating
from newsletter.errors import InvalidInputError


def test_wrap_keeps_lines_within_78_columns() -> None:
    """A long paragraph wraps at 78 columns."""
    text = " ".join(["word"] * 60)
    lines = templating.wrap(text).splitlines()
    assert len(lines) > 1
    assert all(len(line) <= 78 for line in lines)


def test_wrap_never_breaks_a_url() -> None:
    """A URL longer than the width stays whole on its own line."""
    url = "https://example.org/" + "a" * 100
    wrapped = templating.wrap(f"See {url} for more")
    assert url in wrapped.splitlines()


def test_wrap_indents_with_a_hanging_indent() -> None:
    """The first line takes ``indent``, the others ``hanging``."""
    lines = templating.wrap("x " * 60, indent="Q: ", hanging="   ").splitlines()
    assert lines[0].startswith("Q: x")
    assert all(line.startswith("   x") for line in lines[1:])


def test_underline_matches_the_longest_line() -> None:
    """The underline is as long as the (wrapped) heading's longest line."""
    assert templating.underline("Héading", "=") == "Héading\n======="
    long = templating.underline("title " * 20).splitlines()
    assert len(long[-1]) == max(len(line) for line in long[:-1])
    assert templating.underline("") == "\n"


def test_colour_check_normalises_and_refuses_non_colours() -> None:
    """Colours are #rgb or #rrggbb; anything else is refused naming the field."""
    assert templating.check_colour("#ABC") == "#aabbcc"
    with pytest.raises(InvalidInputError, match="accent_color"):
        templating.check_colour("red;}</style>")


def test_tint_mixes_with_white() -> None:
    """A tint of 0 is the colour itself and of 1 is white."""
    assert templating.tint("#1a56db", 0) == "#1a56db"
    assert templating.tint("#1a56db", 1) == "#ffffff"
    assert templating.tint("#000000", 0.5) == "#808080"


def test_long_date_uses_english_names() -> None:
    """Dates read "Wednesday 4 March 2026" with no zero padding."""
    assert templating.long_date(date(2026, 3, 4)) == "Wednesday 4 March 2026"


def test_wrap_matches_textwrap_without_word_breaking() -> None:
    """The fast wrap gives the same lines as textwrap with word breaking off."""
    text = "Ünïcode words, a-hyphenated-compound and https://example.org/x?y=1&z=2 " * 9
    expected = textwrap.fill(
        text.strip(),
        width=40,
        initial_indent="A: ",
        subsequent_indent="   ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    assert templating.wrap(text, 40, "A: ", "   ") == expected
    assert templating.wrap("   ") == ""


def test_text_on_picks_the_readable_label_for_the_accent() -> None:
    """White on dark accents, near-black on light ones (the larger WCAG contrast ratio)."""
    assert templating.text_on("#1a56db") == "#ffffff"
    assert templating.text_on("#000") == "#ffffff"
    assert templating.text_on("#ffdd00") == "#1f2328"
    assert templating.text_on("#ffffff") == "#1f2328"


def test_html_datetime_is_utc_whole_seconds() -> None:
    """HTML's <time datetime> takes at most three digits of a second: none are written."""
    from datetime import UTC, datetime, timedelta, timezone

    instant = datetime(2026, 3, 2, 7, 0, 5, 123456, tzinfo=UTC)
    assert templating.html_datetime(instant) == "2026-03-02T07:00:05Z"
    paris = instant.astimezone(timezone(timedelta(hours=1)))
    assert templating.html_datetime(paris) == "2026-03-02T07:00:05Z"
    assert templating.html_datetime(instant.replace(tzinfo=None)) == "2026-03-02T07:00:05Z"
