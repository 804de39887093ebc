"""Every email in every shipped language, and in the pseudo-locale (nothing left in English).

The pseudo-locale (``i18n.PSEUDO``) wraps every translated string in ``⟦…⟧``: a word
outside the marks that the test data did not put there is chrome nobody marked for
translation. Each shipped language renders each email with its own words, dates,
direction and type; the digest's text part per language is a golden file.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from newsletter import i18n
from newsletter.errors import InvalidInputError
from newsletter.render.email import render_email, render_template_email
from newsletter.templating import columns
from subscribers.confirmation import TEMPLATE as CONFIRMATION
from subscribers.confirmation import confirmation_context
from subscribers.welcome import TEMPLATE as WELCOME
from subscribers.welcome import welcome_context
from tests.fixtures.editions import long_edition, make_publication, sample_edition
from tests.golden import assert_golden
from tests.pseudo import english_left
from tests.unit.newsletter.render.email_samples import data, emails, publication, written_in

TRANSLATED = [language for language in i18n.SHIPPED if language != i18n.DEFAULT_LANGUAGE]

# Per language: words every digest shows, its dateline, its subject's start, the
# confirmation's heading, the welcome's heading.
EXPECTED = {
    "de": ("In dieser Ausgabe", "Mittwoch, 4. März 2026", "The Morning Brief, 4. März:",
           "Bitte bestätigen Sie Ihr Abonnement", "Willkommen bei The Morning Brief"),
    "fr": ("Dans cette édition", "mercredi 4 mars 2026", "The Morning Brief, 4 mars :",
           "Merci de confirmer votre abonnement", "Bienvenue dans The Morning Brief"),
    "es": ("En esta edición", "miércoles, 4 de marzo de 2026", "The Morning Brief, 4 de marzo:",
           "Confirme su suscripción", "Le damos la bienvenida a The Morning Brief"),
    "ar": ("في هذا العدد", "الأربعاء، 4 مارس 2026", "The Morning Brief، 4 مارس:",
           "يرجى تأكيد اشتراكك", "مرحبًا بك في The Morning Brief"),
    "ko": ("이번 호", "2026년 3월 4일 수요일", "The Morning Brief, 3월 4일:",
           "구독을 확인해 주세요", "The Morning Brief에 오신 것을 환영합니다"),
}  # fmt: skip
CHROME = ("In this edition", "Read on the web", "View in your browser", "Unsubscribe")


def _flat(text: str) -> str:
    """Text with its wrapping undone, so data strings match across line breaks."""
    return " ".join(text.split())


@pytest.mark.parametrize("email", list(emails(i18n.PSEUDO)), ids=lambda email: email[0])
def test_pseudo_locale_leaves_no_english(email: tuple[str, str, str, str]) -> None:
    """Subject, HTML and text of every email: every word is marked or test data."""
    _name, subject, html, text = email
    known = data()
    assert english_left(subject, data=known) == []
    assert english_left(html, data=known, html=True) == []
    assert english_left(_flat(text), data=known) == []


def test_pseudo_check_sees_english_chrome() -> None:
    """The check is not vacuous: in English the chrome is left over, by name."""
    email = render_email(sample_edition())
    left = english_left(email.html, data=data(), html=True)
    assert {"In", "this", "edition", "Read", "web", "Unsubscribe"} <= set(left)
    assert "Go" in english_left(_flat(email.text), data=data())


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_language_renders_every_email(language: str) -> None:
    """Every email renders in the language: its words, no English chrome, lang and dir."""
    direction = i18n.direction(language)
    for name, subject, html, text in emails(language):
        assert f'lang="{language}" dir="{direction}"' in html, name
        for english in CHROME:
            assert english not in html, (name, english)
            assert english not in text, (name, english)
        assert subject, name
    contents, dateline, subject_start, confirm, welcome = EXPECTED[language]
    digest = render_email(sample_edition(), language=language)
    assert contents in digest.html
    assert contents in digest.text
    assert dateline in digest.html
    assert dateline in digest.text
    assert digest.subject.startswith(subject_start)
    assert i18n.gettext_for(language, "Read on the web") in digest.html
    row, mailing_list = publication()
    confirmation = render_template_email(
        CONFIRMATION,
        confirmation_context(row, mailing_list, timedelta(hours=48), language=language),
    )
    assert confirm in confirmation.html
    assert confirm in confirmation.text
    assert "48" in confirmation.text
    message = render_template_email(WELCOME, welcome_context(row, mailing_list, language=language))
    assert message.subject == welcome


def test_the_publications_language_is_the_default() -> None:
    """Without ``language`` an email is in its publication's; English stays as it was."""
    german = sample_edition(language="de")
    assert render_email(german) == render_email(german, language="de")
    assert "In dieser Ausgabe" in render_email(german).html
    english = render_email(sample_edition())
    assert english == render_email(sample_edition(language="fr"), language="en")
    assert "In this edition" in english.html
    row, mailing_list = publication(make_publication(language="ko"))
    message = render_template_email(WELCOME, welcome_context(row, mailing_list))
    assert message.subject == "The Morning Brief에 오신 것을 환영합니다"


def test_a_regional_tag_uses_its_base_language_and_its_own_dates() -> None:
    """de-AT reads the German catalog; its lang attribute keeps the region."""
    email = render_email(sample_edition(), language="de-AT")
    assert 'lang="de-AT"' in email.html
    assert "In dieser Ausgabe" in email.html
    assert "Mittwoch, 4. März 2026" in email.text


def test_an_unknown_language_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError, match=r"^language: unknown language tag 'xx-nope'"):
        render_email(sample_edition(), language="xx-nope")
    row, mailing_list = publication()
    with pytest.raises(InvalidInputError, match=r"^language: unknown language tag 'zz'"):
        welcome_context(row, mailing_list, language="zz")


def test_plural_forms_follow_the_language() -> None:
    """Counts pick the language's plural form: Arabic's 3-10 form, French 0 and 1 singular."""
    one, many = (
        "To keep this email small, the last %(count)s briefing is shortened here.",
        "To keep this email small, the last %(count)s briefings are shortened here.",
    )
    assert "مواد" in i18n.ngettext_for("ar", one, many, 3)
    assert "مادة" in i18n.ngettext_for("ar", one, many, 11)
    assert "les %(count)s derniers" in i18n.ngettext_for("fr", one, many, 2)
    assert "les %(count)s derniers" not in i18n.ngettext_for("fr", one, many, 1)
    email = render_email(replace(sample_edition(), items=sample_edition().items[:2]), language="de")
    assert email.subject.endswith("(+1 weiteres)")


def test_rtl_email_is_mirrored_and_cjk_gets_its_fonts() -> None:
    """Arabic: rtl sections and columns, right-aligned text, list and arrows mirrored,
    no letter-spacing. Korean: Korean fonts first, words kept whole when lines break."""
    arabic = render_email(sample_edition(), language="ar").html
    assert 'dir="rtl"' in arabic
    assert "direction:rtl" in arabic
    assert "text-align:right" in arabic
    assert "text-align:left;color" not in arabic
    assert "padding:0 22px 0 0" in arabic
    assert "&larr;" in arabic
    assert "&rarr;" not in arabic
    assert "letter-spacing:1px" not in arabic
    korean = render_email(sample_edition(), language="ko").html
    assert "'Apple SD Gothic Neo','Malgun Gothic','Noto Sans KR',NanumGothic" in korean
    assert "word-break: keep-all" in korean
    english = render_email(sample_edition()).html
    assert "keep-all" not in english
    assert "direction:rtl" not in english


@pytest.mark.parametrize("language", TRANSLATED)
def test_golden_digest_text_per_language(language: str) -> None:
    """The digest's text part in each language, as a person read it once."""
    email = render_email(sample_edition(), language=language)
    assert_golden(f"email/digest.{language}.txt", f"Subject: {email.subject}\n\n{email.text}")


def test_korean_text_part_wraps_by_columns() -> None:
    """Hangul is two columns wide: Korean lines wrap at 78 columns, as English ones do,
    at spaces only, and an underline is as wide as its heading."""
    text = render_email(written_in("ko")).text
    lines = text.splitlines()
    assert max(columns(line) for line in lines if "://" not in line) <= 78
    assert max(columns(line) for line in lines) > 60  # long paragraphs did wrap near 78
    heading = lines.index("헤드라인 뒤의 이야기")
    assert lines[heading + 1] == "-" * columns(lines[heading])
    for paragraph in written_in("ko").items[0].content.lede:  # no word broken
        assert _flat(paragraph) in _flat(text)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_size_budget_holds_in_every_language(language: str) -> None:
    """Longer words do not break the clip guarantee: the email fits its budget, shrinking
    and leaving out briefings in the language it is written in."""
    email = render_email(long_edition(30), language=language)
    assert len(email.html.encode("utf-8")) <= 100_000
    assert email.shrunk
    note = i18n.ngettext_for(
        language,
        "To keep this email small, the last %(count)s briefing is shortened here.",
        "To keep this email small, the last %(count)s briefings are shortened here.",
        len(email.shrunk),
    )
    assert note % {"count": len(email.shrunk)} in email.html
