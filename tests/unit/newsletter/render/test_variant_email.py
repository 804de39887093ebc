"""A topic variant's email links readers to the page of exactly what it carries.

The plain-text part's "Read it on the web" goes to the variant's own page (daily or
weekly); a link that says "the full edition" still goes to the full edition; the full
edition's email is unchanged (its golden files cover it byte for byte).
"""

from __future__ import annotations

from dataclasses import replace

from newsletter.content.edition import Cadence, Edition
from newsletter.db import Database
from newsletter.render.email import render_email
from newsletter.render.placeholders import VIEW_URL
from tests.fixtures.editions import long_edition, sample_edition
from tests.unit.newsletter.delivery.variant_factories import DAY, published_edition, variant_of

BASE = "https://news.example.org/p/morning-brief"
DAY_PAGE = f"{BASE}/2026-03-04/"


def _variant(edition: Edition, positions: tuple[int, ...]) -> Edition:
    """``edition`` cut to ``positions`` in that order, as ``variant_edition`` cuts it."""
    by_position = {item.position: item for item in edition.items}
    chosen = tuple(
        replace(by_position[position], position=number)
        for number, position in enumerate(positions, start=1)
    )
    key = ".".join(str(position) for position in positions)
    return replace(edition, items=chosen, variant_key=key)


def _web_link(text: str) -> str:
    """The URL under the text part's "Read it on the web:" line."""
    return text.split("Read it on the web:\n", 1)[1].split("\n", 1)[0]


def test_variant_text_links_its_own_page() -> None:
    """The text part of variant "2.0" sends readers to /<date>/for/2.0/, not the full page."""
    full = sample_edition()
    email = render_email(_variant(full, (2, 0)))
    assert _web_link(email.text) == f"{DAY_PAGE}for/2.0/"
    assert _web_link(render_email(full).text) == DAY_PAGE
    # "View in your browser" stays the per-recipient placeholder (filled with the same page).
    assert VIEW_URL in email.text
    assert VIEW_URL in email.html


def test_weekly_variant_text_links_the_roundup_variant_page() -> None:
    """A roundup's variant links /weekly/<date>/for/<key>/, never the daily page of its date."""
    weekly = replace(sample_edition(), cadence=Cadence.WEEKLY)
    email = render_email(_variant(weekly, (1,)))
    assert _web_link(email.text) == f"{BASE}/weekly/2026-03-04/for/1/"
    assert DAY_PAGE not in email.text


def test_read_the_full_edition_still_means_the_full_edition() -> None:
    """A shortened variant email's "Read the full edition" link goes to the full edition."""
    full = long_edition(30)
    positions = tuple(range(29, -1, -1))[:25]
    email = render_email(_variant(full, positions))
    assert email.shrunk, "the variant must be big enough to shorten"
    key = ".".join(str(p) for p in positions)
    assert f'<a href="{DAY_PAGE}" style="' in email.html
    assert "Read the full edition on the web</a>" in email.html
    assert _web_link(email.text) == f"{DAY_PAGE}for/{key}/"


def test_a_planned_variant_stores_the_link_to_its_page(database: Database) -> None:
    """The email planning renders for a variant (``ensure_variant``) links the variant page."""
    with database.session() as session:
        published = published_edition(session, choices=(("Climate",),))
        stored = variant_of(session, published.variants["Climate"]).text
    key = published.keys["Climate"]
    assert _web_link(stored) == f"https://news.example.org/p/morning/{DAY}/for/{key}/"
