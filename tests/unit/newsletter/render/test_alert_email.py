"""The alert email: subject = headline, the lede and a link to the alert's page, the
digest's footer; its button label readable on any accent."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from newsletter.content.edition import Cadence, Edition, EditionItem, PublicationInfo
from newsletter.render import placeholders
from newsletter.render.email import render_email
from tests.factories import briefing_content

NOW = datetime(2026, 12, 4, 0, 30, tzinfo=UTC)


def alert(accent: str = "#1a56db") -> Edition:
    content = briefing_content(
        slug="dam-breach", title="Dam breach <now>", lede="Water is over the spillway."
    )
    pub = PublicationInfo(
        slug="morning",
        name="The Morning Test",
        base_url="https://news.example.org",
        postal_address="1 Test Street",
        accent_color=accent,
    )
    item = EditionItem(briefing_id=12, revision=1, content=content, approved_at=NOW, position=1)
    return Edition(
        id=1,
        publication=pub,
        edition_date=date(2026, 12, 4),
        items=(item,),
        assembled_at=NOW,
        cadence=Cadence.ALERT,
        slot="12",
    )


def test_the_alert_email_is_short_and_links_its_page() -> None:
    """Subject: the headline alone; lede, not the rest of the briefing; the page link; the
    footer's per-recipient links; the headline escaped in the HTML."""
    email = render_email(alert())
    page = "https://news.example.org/p/morning/alerts/12/"
    assert email.subject == "Dam breach <now>"
    assert "ALERT - Friday 4 December 2026" in email.text
    assert "Water is over the spillway." in email.text
    assert "Context for dam-breach." not in email.text  # behind the headline: on the page
    assert f"Read the full briefing:\n{page}" in email.text
    assert placeholders.UNSUBSCRIBE_URL in email.text
    assert placeholders.UNSUBSCRIBE_URL in email.html
    assert "Dam breach &lt;now&gt;" in email.html
    assert f'href="{page}"' in email.html
    assert email.shrunk == ()


def _button_style(html: str) -> str:
    """The style of the "Read the full briefing" link (the button's anchor)."""
    found = re.search(r'<a href="[^"]*/alerts/12/"[^>]*style="([^"]*)"', html)
    assert found, "no button linking the alert's page"
    return found.group(1).replace(" ", "")


def test_the_button_label_follows_the_accent() -> None:
    """A light accent gets a dark label, a dark one a white label."""
    assert "color:#ffffff" in _button_style(render_email(alert("#1a56db")).html)
    assert "color:#1f2328" in _button_style(render_email(alert("#ffdd00")).html)
