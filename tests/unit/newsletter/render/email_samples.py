"""Every email the product sends, rendered from fixed test data in any language.

``emails(language)`` renders each email kind (the digest daily, weekly, of a slot, of a
topic variant, corrected and shortened; the alert; the confirmation for each way an
address reaches us; the built-in welcome) and ``data()`` lists what the test data
itself puts in them, which the pseudo-locale test does not expect to be marked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

from newsletter.content.edition import (
    Cadence,
    Edition,
    ItemStatus,
    PublicationInfo,
)
from newsletter.publications.models import Publication
from newsletter.render import placeholders
from newsletter.render.context import day_month, edition_context, long_date
from newsletter.render.email import render_email, render_template_email
from subscribers.confirmation import CONFIRM_URL, confirmation_context
from subscribers.confirmation import TEMPLATE as CONFIRMATION
from subscribers.models import ConsentSource, MailingList
from subscribers.welcome import TEMPLATE as WELCOME
from subscribers.welcome import welcome_context
from tests.browser.documents import AT, PUBLICATION_FIELDS, corrected_edition
from tests.fixtures.editions import EDITION_DATE, long_edition, make_publication, sample_edition

SLOT = "Evening"


def corrected() -> Edition:
    """The checkers' corrected edition, plus a withdrawal notice and an expired briefing."""
    edition = corrected_edition()
    withdrawal = replace(edition.corrections[0], kind="withdrawal", slug="gone", note="")
    items = list(edition.items)
    items[2] = replace(items[2], status=ItemStatus.EXPIRED, updated_at=AT)
    return replace(edition, items=tuple(items), corrections=(*edition.corrections, withdrawal))


def publication(info: PublicationInfo | None = None) -> tuple[Publication, MailingList]:
    """A transient publication (no database) and its list, from ``info``."""
    info = info or make_publication()
    fields = {name: getattr(info, name) for name in PUBLICATION_FIELDS}
    row = Publication(**fields, welcome_subject="", welcome_body="")
    return row, MailingList(slug=info.slug, name=info.name, publication=row)


def digests() -> dict[str, tuple[Edition, int]]:
    """Name → (edition, budget in bytes) of every kind of digest email."""
    sample = sample_edition()
    return {
        "digest": (sample, 100_000),
        "digest-weekly": (replace(sample, cadence=Cadence.WEEKLY), 100_000),
        "digest-slot": (replace(sample, slot=SLOT), 100_000),
        "digest-variant": (replace(sample, items=sample.items[:2], variant_key="0.1"), 100_000),
        "digest-corrected": (corrected(), 100_000),
        "digest-shrunk": (long_edition(12), 60_000),
        "digest-omitted": (long_edition(30), 25_000),
        "alert": (replace(sample, cadence=Cadence.ALERT, items=sample.items[:1]), 100_000),
    }


def emails(language: str) -> Iterator[tuple[str, str, str, str]]:
    """(name, subject, HTML, text) of every email in ``language``."""
    for name, (edition, budget) in digests().items():
        email = render_email(edition, budget_bytes=budget, language=language)
        yield name, email.subject, email.html, email.text
    row, mailing_list = publication()
    for source in ConsentSource:
        context = confirmation_context(
            row, mailing_list, timedelta(hours=48), source, language=language
        )
        message = render_template_email(CONFIRMATION, context)
        yield f"confirmation-{source.value}", message.subject, message.html, message.text
    one_hour = confirmation_context(row, mailing_list, timedelta(hours=1), language=language)
    message = render_template_email(CONFIRMATION, one_hour)
    yield "confirmation-1h", message.subject, message.html, message.text
    message = render_template_email(WELCOME, welcome_context(row, mailing_list, language=language))
    yield "welcome", message.subject, message.html, message.text


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def data() -> list[str]:
    """Everything the test data puts into the emails: not for translators."""
    found: set[str] = set()
    for edition, _budget in digests().values():
        for item in edition.items:
            found.update(_strings(item.content.model_dump()))
        found.update(note for item in edition.items for c in item.corrections for note in [c.note])
        for notice in edition.corrections:
            found.update((notice.title, notice.note))
        # What a shortened briefing shows instead of its text.
        shortened = edition_context(edition, shrink_last=len(edition.items))
        found.update(view.summary for view in shortened["items"])
        found.add(shortened["preheader"])  # the hidden preview line
        info = edition.publication
        found.update((info.name, info.tagline, info.postal_address))
    found.update(text.upper() for text in list(found))  # the text part's subheadings
    found.update((SLOT, long_date(EDITION_DATE, "en"), long_date(AT.date(), "en")))
    found.add(day_month(EDITION_DATE, "en"))
    found.update((*placeholders.ALL, CONFIRM_URL))
    return [" ".join(text.split()) for text in found if text.strip()]
