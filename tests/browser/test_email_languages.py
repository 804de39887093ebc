"""Arabic (right to left) and Korean emails in headless Chromium, at 375 and 800 px.

Each email (digest, alert, confirmation, welcome) is written in its language (the chrome
and the briefing), screenshotted to
``test-artifacts/email-<language>-<kind>-<width>.png`` for a person to look at, and
checked: nothing scrolls sideways; Arabic runs right to left with its text, headings,
list numbers and buttons on the right; Korean gets a font that has Hangul and keeps
words whole when lines break.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from newsletter.content.edition import Cadence
from newsletter.render.email import render_email, render_template_email
from subscribers.confirmation import TEMPLATE as CONFIRMATION
from subscribers.confirmation import confirmation_context
from subscribers.welcome import TEMPLATE as WELCOME
from subscribers.welcome import welcome_context
from tests import services
from tests.fixtures.editions import make_publication
from tests.unit.newsletter.render.email_samples import publication, written_in

pytestmark = pytest.mark.browser

KINDS = ("digest", "alert", "confirmation", "welcome")


def _html(language: str, kind: str) -> str:
    edition = written_in(language)
    if kind == "digest":
        return render_email(edition).html
    if kind == "alert":
        return render_email(replace(edition, cadence=Cadence.ALERT, items=edition.items[:1])).html
    row, mailing_list = publication(make_publication(language=language))
    if kind == "confirmation":
        context = confirmation_context(row, mailing_list, timedelta(hours=48))
        return render_template_email(CONFIRMATION, context).html
    return render_template_email(WELCOME, welcome_context(row, mailing_list)).html


def _open(browser: Any, language: str, kind: str, width: int) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.route("**/*", lambda route: route.abort())  # the email alone, no network
    page.set_content(_html(language, kind), wait_until="load")
    services.screenshot(page, f"email-{language}-{kind}-{width}.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    return page


@pytest.mark.parametrize("width", [375, 800])
@pytest.mark.parametrize("kind", KINDS)
def test_arabic_email_runs_right_to_left(browser: Any, kind: str, width: int) -> None:
    """Text, headings and the button sit on the right; the contents list numbers on the
    right of its items; no label is letter-spaced (it would tear the letters apart)."""
    page = _open(browser, "ar", kind, width)
    found = page.evaluate(
        """() => {
          const h = document.querySelector('h1');
          const card = h.closest('td').getBoundingClientRect();
          const box = h.getBoundingClientRect();
          const range = document.createRange();
          range.selectNodeContents(h);
          const text = range.getBoundingClientRect();
          const button = document.querySelector('a[href*="%%"], td[bgcolor] a');
          const ol = document.querySelector('ol');
          return {
            dir: getComputedStyle(h).direction,
            textRight: card.right - text.right, textLeft: text.left - card.left,
            button: button ? [button.getBoundingClientRect().left - card.left,
                              card.right - button.getBoundingClientRect().right] : null,
            list: ol ? [getComputedStyle(ol).paddingRight, getComputedStyle(ol).direction] : null,
            spaced: [...document.querySelectorAll('p, strong')]
              .filter(e => getComputedStyle(e).letterSpacing !== 'normal'
                           && getComputedStyle(e).letterSpacing !== '0px').length,
          };
        }"""
    )
    assert found["dir"] == "rtl"
    assert found["textRight"] < found["textLeft"], found  # the heading hugs the right
    if found["button"] is not None:
        left, right = found["button"]
        assert right < left, found
    if kind == "digest":
        assert found["list"] == ["22px", "rtl"]
    assert found["spaced"] == 0
    page.close()


@pytest.mark.parametrize("width", [375, 800])
@pytest.mark.parametrize("kind", KINDS)
def test_korean_email_has_hangul_fonts_and_whole_words(browser: Any, kind: str, width: int) -> None:
    """The font stack names Korean fonts before the generic family, one of them is
    installed here (so the screenshot shows Hangul, not boxes), and lines break
    between words: no Korean word is split across two lines."""
    page = _open(browser, "ko", kind, width)
    found = page.evaluate(
        """() => {
          const h = document.querySelector('h1');
          const family = getComputedStyle(h).fontFamily;
          const p = [...document.querySelectorAll('.nl-card p')]
            .filter(e => /[가-힣]/.test(e.textContent) && e.children.length === 0)
            .sort((a, b) => b.textContent.length - a.textContent.length)[0];
          return {family, wordBreak: p ? getComputedStyle(p).wordBreak : null,
                  hangul: document.fonts.check('16px NanumGothic', '가')};
        }"""
    )
    assert "Malgun Gothic" in found["family"]
    assert "NanumGothic" in found["family"]
    assert found["hangul"]
    if kind == "digest":
        assert found["wordBreak"] == "keep-all"
        # Every word of the lede starts its own text run or follows a space: measure
        # each word's rects; a word split across lines has two.
        split = page.evaluate(
            """() => {
              const p = [...document.querySelectorAll('p')]
                .find(e => e.textContent.startsWith('한국은행 금융통화위원회는'));
              const node = p.firstChild, text = node.textContent, out = [];
              let at = 0;
              for (const word of text.split(' ')) {
                const range = document.createRange();
                range.setStart(node, at); range.setEnd(node, at + word.length);
                if (range.getClientRects().length > 1) out.push(word);
                at += word.length + 1;
              }
              return out;
            }"""
        )
        assert split == []
    page.close()
