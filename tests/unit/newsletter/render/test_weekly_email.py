"""A weekly roundup's email says so and links to the roundup's own page, never the daily one."""

from __future__ import annotations

from dataclasses import replace

from newsletter.content.edition import Cadence
from newsletter.render.email import render_email
from tests.fixtures.editions import sample_edition


def test_a_roundup_email_names_itself_and_links_to_its_own_page() -> None:
    """Subject "... weekly roundup, <date>"; every edition link goes to /weekly/<date>/."""
    daily = sample_edition()
    weekly = replace(daily, cadence=Cadence.WEEKLY)
    day = daily.edition_date.isoformat()
    daily_email, weekly_email = render_email(daily), render_email(weekly)
    assert "weekly roundup" not in daily_email.subject
    assert weekly_email.subject.startswith(f"{daily.publication.name} weekly roundup, ")
    weekly_page = f"/p/{daily.publication.slug}/weekly/{day}/"
    daily_page = f"/p/{daily.publication.slug}/{day}/"
    for body in (weekly_email.html, weekly_email.text):
        assert weekly_page in body
        assert daily_page not in body
    assert daily_page in daily_email.html
    assert weekly_page not in daily_email.html
