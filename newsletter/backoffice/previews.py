"""What editors see before readers do: the next edition, test copies, one briefing.

An edition is frozen when it is assembled. Previewing must not freeze it (briefings
approved later in the day still belong in it), so an edition that is not assembled
yet is assembled and rendered inside a savepoint that is rolled back: the preview
and the test copy show exactly what the renderer would produce now, and nothing
is kept. An edition already rendered is shown as stored.

The preview can also imitate one reader (``ReaderChoice``): their topics, their time
zone and their cadence. It then shows exactly the email such a reader gets: the
topic variant their topics select (the stored variant once planning rendered it,
else rendered now the same way), the full edition when their topics select all of
it, or that they would be left out; the weekly roundup for a weekly reader; and the
instant it reaches them (``send_time`` in their own zone when the publication
delivers locally, else the publication's instant, shown on their clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from newsletter import i18n, urls
from newsletter.backoffice.preview_slots import next_daily, read_slot
from newsletter.content.briefing import BriefingContent
from newsletter.content.edition import Cadence, Edition, EditionItem, PublicationInfo
from newsletter.db import utcnow
from newsletter.delivery.compose import Personaliser, edition_message
from newsletter.digests.assembly import next_edition_date
from newsletter.digests.models import RENDERED_STATES, Digest, DigestState, DigestVariant
from newsletter.digests.roundup import roundup_edition
from newsletter.digests.services import (
    assemble_digest,
    find_digest,
    render_digest,
    tentatively,
)
from newsletter.digests.variants import (
    FULL,
    ItemTopics,
    item_topics,
    select_positions,
    stored_key,
    variant_edition,
    variant_key,
)
from newsletter.errors import InvalidInputError
from newsletter.localtime import local_instant
from newsletter.parsing import WEEKDAYS
from newsletter.providers.interfaces import Batch
from newsletter.publications.models import Publication
from newsletter.render import placeholders
from newsletter.render.email import render_email
from newsletter.render.web import render_briefing_fragment
from subscribers.choices import offered_days, offered_topics
from subscribers.profile import clean_topics, clean_zone
from subscribers.tokens import Tokens

# A query string may repeat ``topics`` at most this often (a publication's list is shorter).
MAX_CHOSEN = 200


@dataclass(frozen=True)
class ReaderChoice:
    """The reader a preview imitates: the topics they chose (none: every topic), their
    zone (None: the publication's), their cadence, and the named slot whose daily edition
    is shown ("" the main schedule's)."""

    topics: tuple[str, ...] = ()
    zone: str | None = None
    cadence: Cadence = Cadence.DAILY
    slot: str = ""
    language: str = ""  # one of the publication's languages ("": its default)

    @property
    def personal(self) -> bool:
        """Whether this is anyone but the plain daily reader in the publication's zone."""
        return (
            bool(self.topics)
            or self.zone is not None
            or self.cadence is not Cadence.DAILY
            or bool(self.language)
        )


@dataclass(frozen=True)
class ReaderTiming:
    """When the previewed reader gets the edition: the instant, and on their own clock."""

    zone: str
    deliver_at: datetime  # UTC
    local: datetime  # the same instant in ``zone``
    local_delivery: bool  # the publication delivers at send_time in each reader's zone


def read_choice(
    session: Session,
    publication: Publication,
    *,
    topics: Sequence[str] = (),
    timezone: str = "",
    cadence: str = "",
    slot: str = "",
    language: str = "",
) -> ReaderChoice:
    """The choice typed into the preview form, checked as a reader's would be: only the
    publication's topics, a real IANA zone, daily or (if offered) weekly, one of its
    named slots; else ``InvalidInputError`` naming the field."""
    if len(topics) > MAX_CHOSEN:
        raise InvalidInputError(f"topics: at most {MAX_CHOSEN}")
    chosen = tuple(clean_topics(topics, offered_topics(session, publication)))
    zone = clean_zone(timezone)
    typed = cadence.strip().lower() or Cadence.DAILY.value
    if typed not in (Cadence.DAILY.value, Cadence.WEEKLY.value):
        raise InvalidInputError(f"cadence: {cadence.strip()[:20]!r} is not daily or weekly")
    if typed == Cadence.WEEKLY.value and not offered_days(publication):
        raise InvalidInputError("cadence: this publication offers no weekly roundup")
    kind = Cadence(typed)
    choice = ReaderChoice(chosen, zone, kind, read_slot(session, publication, slot, kind))
    return replace(choice, language=_offered_language(publication, language))


def _offered_language(publication: Publication, typed: str) -> str:
    """One of the publication's languages ("" for its default), or an error naming the field."""
    if not typed.strip():
        return ""
    tag = i18n.check_language(typed.strip(), field="language")
    offered = publication.offered_languages()
    if tag not in offered:
        raise InvalidInputError(
            f"language: {tag!r} is not offered by this publication ({', '.join(offered)})"
        )
    return "" if tag == publication.language else tag


def reader_timing(
    publication: Publication, edition_date: date, zone: str | None, at: time | None = None
) -> ReaderTiming:
    """When a reader in ``zone`` gets the edition of ``edition_date`` on the recurring schedule.

    With local delivery: ``send_time`` on that date in their zone (DST rules of
    ``newsletter.localtime``); otherwise everyone's instant, the publication's ``send_time``
    (``at``: a named slot's time instead).
    """
    name = zone or publication.timezone
    where = name if publication.local_delivery else publication.timezone
    instant = local_instant(edition_date, at or publication.send_time, where)
    return ReaderTiming(
        name, instant, instant.astimezone(ZoneInfo(name)), publication.local_delivery
    )


def next_roundup(publication: Publication, now: datetime) -> date:
    """The date of the next weekly roundup whose cut-off (its send time) is still ahead."""
    days = {WEEKDAYS.index(day) for day in offered_days(publication)}
    return next_edition_date(now, publication.send_time, publication.timezone, days)


@dataclass(frozen=True)
class Preview:
    """What the next edition would look like, as plain values."""

    publication: str
    publication_name: str
    edition_date: date
    state: str
    frozen: bool
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    html_bytes: int = 0
    titles: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    skip_reason: str | None = None
    test_batch: Batch | None = field(default=None, repr=False)
    # What one reader gets (``preview_for``): the choice, when, and which version.
    cadence: str = Cadence.DAILY.value
    choice: ReaderChoice = ReaderChoice()
    timing: ReaderTiming | None = None
    variant_key: str | None = None  # None: the full edition
    full_count: int = 0  # briefings in the full edition
    left_out: str | None = None  # why this reader would get nothing
    view_url: str = ""
    slot: str = ""  # the named slot whose daily edition this is ("" the main schedule)


def _edition_url(publication: Publication, edition_date: date, cadence: Cadence) -> str:
    weekly = cadence is Cadence.WEEKLY
    return urls.edition_page(publication.base_url, publication.slug, edition_date, weekly=weekly)


def _fill(text: str, publication: Publication, edition_date: date, view_url: str = "") -> str:
    """Replace per-recipient markers with links that work for an editor looking at it."""
    signup = urls.subscribe_page(publication.base_url, publication.slug)
    values = {
        placeholders.UNSUBSCRIBE_URL: signup,
        placeholders.PREFERENCES_URL: signup,
        placeholders.VIEW_URL: view_url
        or urls.edition_page(publication.base_url, publication.slug, edition_date),
        placeholders.NAME: "",
    }
    for marker, value in values.items():
        text = text.replace(marker, value)
    return text


def _capture(
    digest: Digest, publication: Publication, frozen: bool, test_to: str | None, tokens: Tokens
) -> Preview:
    batch = None
    if test_to is not None:
        message = edition_message(digest, test=True)
        personaliser = Personaliser.for_digest(
            digest, message, base_url=publication.base_url, tokens=tokens
        )
        signup = urls.subscribe_page(publication.base_url, publication.slug)
        recipient = personaliser.anonymous(test_to, signup)
        batch = Batch(f"test-{publication.slug}-{digest.edition_date}", message, (recipient,))
    view = _edition_url(publication, digest.edition_date, digest.cadence)
    return Preview(
        publication=publication.slug,
        publication_name=publication.name,
        edition_date=digest.edition_date,
        state=digest.state.value,
        frozen=frozen,
        subject=digest.subject or "",
        preheader=digest.preheader or "",
        html=_fill(digest.html or "", publication, digest.edition_date, view),
        text=_fill(digest.text or "", publication, digest.edition_date, view),
        html_bytes=digest.html_bytes or 0,
        titles=tuple(item.title for item in digest.items),
        notes=tuple(digest.notes or ()),
        test_batch=batch,
        cadence=digest.cadence.value,
        full_count=len(digest.items),
        view_url=view,
        slot=digest.slot,
    )


def _take_write_lock(session: Session, publication: Publication) -> None:
    """On SQLite, start the transaction with a write so it holds the write lock from the start.

    Otherwise the preview reads, then writes inside its savepoint; if another
    connection wrote in between (a webhook, say), SQLite cannot upgrade the read
    transaction and fails at once with "database is locked" instead of waiting.
    A no-op UPDATE as the first statement makes SQLite wait its busy timeout.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            text("UPDATE publications SET id = id WHERE id = :id"), {"id": publication.id}
        )


def preview_next(
    session: Session,
    publication: Publication,
    tokens: Tokens,
    *,
    test_to: str | None = None,
    now: datetime | None = None,
    slot: str = "",
) -> Preview:
    """The publication's next edition (of a named ``slot``) rendered now; with ``test_to``,
    a test batch for it."""
    now = now or utcnow()
    _take_write_lock(session, publication)
    target = next_daily(session, publication, slot, now)
    edition_date = target.edition_date
    stored = find_digest(session, publication.id, edition_date, Cadence.DAILY, target.slot)
    if stored is not None and stored.state in RENDERED_STATES:
        return _capture(stored, publication, True, test_to, tokens)
    with tentatively(session):
        result = assemble_digest(
            session, publication, edition_date, now=now, slot=target.slot, cutoff=target.cutoff
        )
        digest = result.digest
        if digest.state is DigestState.SKIPPED:
            return Preview(
                publication=publication.slug,
                publication_name=publication.name,
                edition_date=edition_date,
                state=digest.state.value,
                frozen=not result.created,
                skip_reason=digest.skip_reason,
                slot=target.slot,
            )
        digest = render_digest(session, digest.id)
        return _capture(digest, publication, not result.created, test_to, tokens)


def preview_for(
    session: Session,
    publication: Publication,
    tokens: Tokens,
    choice: ReaderChoice,
    *,
    now: datetime | None = None,
) -> Preview:
    """Exactly the email a reader with ``choice`` gets from the next edition of their cadence,
    and when; nothing is frozen (see the module docstring)."""
    now = now or utcnow()
    if choice.cadence is Cadence.WEEKLY:
        return _weekly_for(session, publication, choice, tokens, now)
    _take_write_lock(session, publication)
    target = next_daily(session, publication, choice.slot, now)
    edition_date = target.edition_date
    timing = reader_timing(publication, edition_date, choice.zone, target.send_time)
    stored = find_digest(session, publication.id, edition_date, Cadence.DAILY, target.slot)
    if stored is not None and stored.state in RENDERED_STATES:
        return _reader_view(session, stored, publication, choice, timing, True, tokens)
    with tentatively(session):
        result = assemble_digest(
            session, publication, edition_date, now=now, slot=target.slot, cutoff=target.cutoff
        )
        digest = result.digest
        if digest.state is DigestState.SKIPPED:
            return Preview(
                publication=publication.slug,
                publication_name=publication.name,
                edition_date=edition_date,
                state=digest.state.value,
                frozen=not result.created,
                skip_reason=digest.skip_reason,
                choice=choice,
                timing=timing,
                slot=target.slot,
            )
        digest = render_digest(session, digest.id)
        frozen = not result.created
        return _reader_view(session, digest, publication, choice, timing, frozen, tokens)


def _reader_view(
    session: Session,
    digest: Digest,
    publication: Publication,
    choice: ReaderChoice,
    timing: ReaderTiming,
    frozen: bool,
    tokens: Tokens,
) -> Preview:
    """The stored or tentative digest as the reader gets it: full, a variant, or nothing."""
    whole = replace(
        _capture(digest, publication, frozen, None, tokens), choice=choice, timing=timing
    )
    items = item_topics(digest)
    positions = select_positions(items, choice.topics, publication.topic_mode)
    if positions is None:
        return _left_out(whole, choice)
    language = choice.language or publication.language
    if variant_key(items, positions) is FULL and language == publication.language:
        return whole
    key = stored_key(positions, language, publication.language)
    stored = session.scalar(
        select(DigestVariant).where(DigestVariant.digest_id == digest.id, DigestVariant.key == key)
    )
    if stored is not None:
        subject, preheader, html, body = stored.subject, stored.preheader, stored.html, stored.text
    else:
        edition = variant_edition(session, digest, positions, language)
        email = render_email(edition, language=language)
        subject, preheader, html, body = email.subject, email.preheader, email.html, email.text
    titles = {item.position: item.title for item in digest.items}
    return _as_variant(
        whole, publication, key, subject, preheader, html, body, [titles[p] for p in positions]
    )


def _as_variant(
    whole: Preview,
    publication: Publication,
    key: str,
    subject: str,
    preheader: str,
    html: str,
    body: str,
    titles: Sequence[str],
) -> Preview:
    view = urls.variant_page(whole.view_url, key)
    return replace(
        whole,
        subject=subject,
        preheader=preheader,
        html=_fill(html, publication, whole.edition_date, view),
        text=_fill(body, publication, whole.edition_date, view),
        html_bytes=len(html.encode("utf-8")),
        titles=tuple(titles),
        variant_key=key,
        view_url=view,
    )


def _left_out(whole: Preview, choice: ReaderChoice) -> Preview:
    topics = ", ".join(choice.topics)
    reason = f"none of this edition’s briefings is on {topics} (skipped: no_matching_topic)"
    return replace(whole, subject="", preheader="", html="", text="", titles=(), left_out=reason)


def _weekly_for(
    session: Session,
    publication: Publication,
    choice: ReaderChoice,
    tokens: Tokens,
    now: datetime,
) -> Preview:
    """The next weekly roundup as the reader gets it: the stored one once rendered, else
    assembled now and rolled back (``roundup_edition``)."""
    _take_write_lock(session, publication)
    edition_date = next_roundup(publication, now)
    timing = reader_timing(publication, edition_date, choice.zone)
    stored = find_digest(session, publication.id, edition_date, Cadence.WEEKLY)
    if stored is not None and stored.state in RENDERED_STATES:
        return _reader_view(session, stored, publication, choice, timing, True, tokens)
    edition = roundup_edition(session, publication, edition_date, now=now)
    if edition is None:
        return Preview(
            publication=publication.slug,
            publication_name=publication.name,
            edition_date=edition_date,
            state=DigestState.SKIPPED.value,
            frozen=False,
            skip_reason="no briefings for the week's roundup",
            cadence=Cadence.WEEKLY.value,
            choice=choice,
            timing=timing,
        )
    return _edition_view(edition, publication, choice, timing)


def _edition_view(
    edition: Edition, publication: Publication, choice: ReaderChoice, timing: ReaderTiming
) -> Preview:
    """An unsaved edition (a roundup not assembled yet) rendered as the reader gets it."""
    edition = replace(edition, cadence=Cadence.WEEKLY)
    ordered = sorted(edition.items, key=lambda item: item.position)
    email = render_email(edition)
    view = _edition_url(publication, edition.edition_date, Cadence.WEEKLY)
    whole = Preview(
        publication=publication.slug,
        publication_name=publication.name,
        edition_date=edition.edition_date,
        state="not assembled",
        frozen=False,
        subject=email.subject,
        preheader=email.preheader,
        html=_fill(email.html, publication, edition.edition_date, view),
        text=_fill(email.text, publication, edition.edition_date, view),
        html_bytes=len(email.html.encode("utf-8")),
        titles=tuple(item.content.title for item in ordered),
        notes=tuple(email.notes),
        cadence=Cadence.WEEKLY.value,
        choice=choice,
        timing=timing,
        full_count=len(ordered),
        view_url=view,
    )
    items = tuple(
        ItemTopics(item.position, frozenset(n.casefold() for n in item.content.topic_names))
        for item in ordered
    )
    positions = select_positions(items, choice.topics, publication.topic_mode)
    if positions is None:
        return _left_out(whole, choice)
    key = variant_key(items, positions)
    if key is FULL:
        return whole
    by_position = {item.position: item for item in ordered}
    chosen = tuple(
        replace(by_position[position], position=number)
        for number, position in enumerate(positions, start=1)
    )
    variant = render_email(replace(edition, items=chosen, variant_key=key))
    return _as_variant(
        whole,
        publication,
        key,
        variant.subject,
        variant.preheader,
        variant.html,
        variant.text,
        [item.content.title for item in chosen],
    )


def briefing_fragment(
    content: BriefingContent, *, base_url: str, now: datetime | None = None
) -> str:
    """A briefing as the archive page and feeds show it (the same fragment renderer).

    The briefing is placed alone in a throwaway edition of a stand-in publication, so
    the preview never touches the database and shows exactly the archive's markup.
    """
    now = now or utcnow()
    publication = PublicationInfo(slug="preview", name="Preview", base_url=base_url)
    item = EditionItem(briefing_id=0, revision=0, content=content, approved_at=now, position=1)
    edition = Edition(
        id=0, publication=publication, edition_date=now.date(), items=(item,), assembled_at=now
    )
    return render_briefing_fragment(edition, item)
