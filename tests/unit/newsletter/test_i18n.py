"""Language tags, catalogs per language, locale formatting and the pseudo-locale."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from newsletter import i18n, templating
from newsletter.errors import InvalidInputError


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [("en", "en"), ("de", "de"), ("pt-br", "pt-BR"), ("de_AT", "de-AT")],
)
def test_valid_tags_are_canonical(tag: str, canonical: str) -> None:
    assert i18n.check_language(tag) == canonical
    assert i18n.is_language(tag)


@pytest.mark.parametrize("tag", ["", "xx", "english", "de-XX-YY", "en\n", " ko", "12", "e", "de-"])
def test_unknown_tags_are_refused_naming_the_field(tag: str) -> None:
    with pytest.raises(InvalidInputError, match=r"^locale: unknown language tag"):
        i18n.check_language(tag, field="locale")
    assert not i18n.is_language(tag)


@pytest.mark.parametrize(
    ("tag", "catalog"),
    [("de-AT", "de"), ("fr-CA", "fr"), ("ar-EG", "ar"), ("it", "en"), ("en-GB", "en")],
)
def test_a_regional_tag_uses_its_base_language_catalog(tag: str, catalog: str) -> None:
    assert i18n.catalog_language(tag) == catalog


def test_direction_follows_the_script() -> None:
    assert i18n.direction("ar") == "rtl"
    assert i18n.direction("he") == "rtl"
    assert i18n.direction("ko") == "ltr"
    assert i18n.direction("de") == "ltr"


def test_dates_and_numbers_follow_cldr() -> None:
    day = date(2026, 12, 2)
    assert i18n.long_date(day, "en") == "Wednesday 2 December 2026"
    assert i18n.long_date(day, "en-US") == "Wednesday 2 December 2026"
    assert i18n.long_date(day, "de") == "Mittwoch, 2. Dezember 2026"
    assert i18n.long_date(day, "ko") == "2026년 12월 2일 수요일"
    assert i18n.number(1234567, "de") == "1.234.567"
    assert i18n.number(1234567, "fr") == "1\u202f234\u202f567"
    moment = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
    assert "2026" in i18n.local_datetime(moment, "es")


def test_the_pseudo_locale_marks_every_string_and_keeps_placeholders() -> None:
    env = templating.environment(language=i18n.PSEUDO)
    html = env.from_string(
        '{{ _("Hello %(name)s", name=who) }} {% trans n=2 %}{{ n }} item{% pluralize %}'
        "{{ n }} items{% endtrans %}"
    ).render(who="<b>")
    assert html == "⟦Hello &lt;b&gt;⟧ ⟦2 items⟧"


def test_each_language_has_its_own_environment() -> None:
    english = templating.environment()
    arabic = templating.environment(language="ar")
    assert english is not arabic
    assert arabic.globals["text_direction"] == "rtl"
    assert english.globals["text_direction"] == "ltr"
    template = "{{ day | long_date }}"
    assert arabic.from_string(template).render(day=date(2026, 12, 2)).startswith("الأربعاء")


def test_a_language_without_a_catalog_is_english_with_its_own_dates() -> None:
    env = templating.environment(language="it")
    assert env.from_string('{{ _("Read on the web") }}').render() == "Read on the web"
    assert (
        env.from_string("{{ d | long_date }}").render(d=date(2026, 12, 2)).startswith("mercoledì")
    )


def test_english_left_finds_unmarked_words_only() -> None:
    from tests.pseudo import english_left

    html = (
        '<p lang="x">⟦Read ⟦on⟧ the web⟧ <a href="https://e.example/x">Plain words</a></p>'
        '<img alt="A photo"><style>p { color: red }</style><input type="submit" value="Go">'
        "<p>Seoul talks resume</p> reader@example.com"
    )
    assert english_left(html, data=["Seoul talks resume"], html=True) == [
        "Plain",
        "words",
        "photo",
        "Go",
    ]
    assert english_left("⟦Hello⟧ ⟦%(x)s⟧", data=()) == []
