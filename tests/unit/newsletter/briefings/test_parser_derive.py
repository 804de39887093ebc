"""What the importers derive from the text: slugs, titles, topic names, truncation."""

from __future__ import annotations

import pytest

from newsletter.briefings.derive import derive_title, ends_sentence, quote, slugify, topic_name
from newsletter.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Zürich & São Paulo", "zurich-and-sao-paulo"),
        ("North Korea's troops", "north-koreas-troops"),
        ("Europe’s  largest   plant!", "europes-largest-plant"),
        ("Straße in Łódź, Ærø", "strasse-in-lodz-aero"),
        ("--Already-a-slug--", "already-a-slug"),
        ("2024: a year", "2024-a-year"),
    ],
)
def test_slugify_is_ascii_lowercase_hyphenated(text: str, slug: str) -> None:
    """Slugs are ASCII, lowercase, with single hyphens and no hyphen at either end."""
    assert slugify(text) == slug


def test_slugify_cuts_at_a_word_boundary() -> None:
    """A long slug is cut to max_length at a hyphen when there is one."""
    assert slugify("alpha beta gamma", max_length=12) == "alpha-beta"
    assert slugify("alpha beta", max_length=10) == "alpha-beta"
    assert slugify("abcdefghijklmnop", max_length=5) == "abcde"
    assert len(slugify("word " * 100)) <= 120


@pytest.mark.parametrize("text", ["", "   ", "¿¡!?", "日本語", "— …"])
def test_slugify_never_returns_empty(text: str) -> None:
    """Text with no ASCII letters or digits raises instead of giving an empty slug."""
    with pytest.raises(InvalidInputError, match="cannot make a slug"):
        slugify(text)


def test_slugify_rejects_a_useless_max_length() -> None:
    """max_length below 1 is refused, naming the parameter."""
    with pytest.raises(InvalidInputError, match="max_length must be at least 1"):
        slugify("abc", max_length=0)


@pytest.mark.parametrize(
    ("paragraph", "title"),
    [
        ("The bridge reopened. Traffic resumed.", "The bridge reopened"),
        ("Is it over? Maybe.", "Is it over?"),
        ("The U.S. Senate voted today. More later.", "The U.S. Senate voted today"),
        ("Dr. Okafor resigned. She denies it.", "Dr. Okafor resigned"),
        ("Prices rose 2.5% in May. Then fell.", "Prices rose 2.5% in May"),
        ("No stop at all", "No stop at all"),
        ("He said “enough.” Then left.", "He said “enough.”"),
        ("Wait for it...", "Wait for it..."),
    ],
)
def test_title_is_the_first_sentence(paragraph: str, title: str) -> None:
    """The derived title is the first sentence, without its full stop."""
    assert derive_title(paragraph) == title


def test_long_title_is_cut_at_a_word_with_an_ellipsis() -> None:
    """A first sentence over 80 characters is cut at a word boundary and ends with '…'."""
    title = derive_title("word, " * 40 + "end.")
    assert len(title) <= 80
    assert title.endswith("word…")
    assert derive_title("x" * 200).endswith("…")
    assert len(derive_title("x" * 200)) == 80


@pytest.mark.parametrize(
    ("description", "name"),
    [
        ("North Korea, officially the DPRK, is a country.", "North Korea"),
        ("Russia, or the Russian Federation, is big.", "Russia"),
        ("Vladimir Vladimirovich Putin is a Russian politician.", "Vladimir Putin"),
        ("Ukraine is a country in Eastern Europe.", "Ukraine"),
        ("Pyongyang is the capital and largest city of North Korea. Pyongyang is a d", "Pyongyang"),
        ("New York City is the most populous city.", "New York City"),
        ("Kim Jong-un (born 1984) is a politician.", "Kim Jong-un"),
        ("Anna Sergeyevna Ivanova was a chemist.", "Anna Ivanova"),
        ("Tea or coffee are drinks.", "Tea"),
        ("São Paulo: a megacity.", "São Paulo"),
    ],
)
def test_topic_name_is_the_entity_before_the_first_separator(description: str, name: str) -> None:
    """The name is the text before ',', ' is ', ' or ' and kin; patronymics are dropped."""
    assert topic_name(description) == (name, True)


def test_topic_name_without_separator_is_a_flagged_guess() -> None:
    """Without a separator in the first eight words the first four words are a guess."""
    assert topic_name("Rain fell all day long.") == ("Rain fell all day", False)
    long = "one two three four five six seven eight nine is ten."
    assert topic_name(long) == ("one two three four", False)


@pytest.mark.parametrize(
    ("text", "ends"),
    [
        ("A sentence.", True),
        ("A question?", True),
        ("Wow!", True),
        ("And so…", True),
        ("He said “stop.”", True),
        ("(As planned.)", True),
        ("It's a d", False),
        ("Ends with a comma,", False),
        ("", False),
    ],
)
def test_ends_sentence(text: str, ends: bool) -> None:
    """A paragraph ends a sentence with . ! ? or …, possibly inside quotes or brackets."""
    assert ends_sentence(text) is ends


def test_quote_shortens_and_flattens() -> None:
    """Quoted excerpts in messages are one line and at most the given length."""
    assert quote("a\n  b") == "“a b”"
    assert quote("x" * 100, 10) == "“xxxxxxxxx…”"
    assert quote(None) == "“”"
