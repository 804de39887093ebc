"""How ``newsletter digest`` commands find, assemble, render and publish an edition.

Imported by the commands when they run (``newsletter.pipeline.cli`` stays light).
"""

from __future__ import annotations

from datetime import date

from rich.markup import escape
from sqlalchemy.orm import Session

from newsletter.briefings.services import get_briefing
from newsletter.console import out
from newsletter.content.edition import Cadence
from newsletter.db import utcnow
from newsletter.digests import services as digests
from newsletter.digests.alerts import find_alert
from newsletter.digests.assembly import local_today, next_edition_date
from newsletter.digests.models import DigestState
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.parsing import WEEKDAYS
from newsletter.pipeline.cli_options import kind_of
from newsletter.pipeline.dispatch import Progress, SendArgs, dispatch_options
from newsletter.pipeline.steps import record_public
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.publishing import changes
from newsletter.runtime import Runtime
from newsletter.schedules.editions import refuse_weekly_day
from newsletter.schedules.slots import get_slot, slot_cutoff
from subscribers.tokens import tokens_for


def edition_day(
    session: Session,
    publication: Publication,
    edition_date: date | None,
    cadence: Cadence,
    slot: str = "",
) -> date:
    """The date of the edition to make (default: today in the publication's zone).

    A new weekly roundup is made only on a weekday the publication offers (only
    readers of that weekday get it): any other date is refused, naming ``--cadence``,
    before anything is assembled. A roundup already made stays reachable even if the
    publication has since stopped offering its weekday. A slot's new edition needs the
    slot to exist (``--slot`` names the field); roundups have no slot.
    """
    day = edition_date or local_today(utcnow(), publication.timezone)
    if slot and cadence is Cadence.WEEKLY:
        raise InvalidInputError("--slot: a weekly roundup belongs to the main schedule")
    if digests.find_digest(session, publication.id, day, cadence, slot) is None:
        if cadence is Cadence.WEEKLY:
            refuse_weekly_day(publication, day)
        if slot:
            get_slot(session, publication, slot)
    return day


def assemble(
    session: Session, publication: Publication, day: date, cadence: Cadence, slot: str
) -> digests.AssemblyResult:
    """Assemble (or find) the edition; a slot's takes what was approved before its cut-off."""
    cutoff = None
    if slot and digests.find_digest(session, publication.id, day, cadence, slot) is None:
        cutoff = slot_cutoff(session, publication, day, slot)
    return digests.assemble_digest(
        session, publication, day, cadence=cadence, slot=slot, cutoff=cutoff
    )


def next_day(publication: Publication, cadence: Cadence) -> date:
    """The next edition of a cadence whose cut-off is still ahead (``preview``'s default)."""
    if cadence is Cadence.DAILY:
        return digests.next_edition(publication)
    if not publication.weekly_days:
        raise InvalidInputError(
            f"--cadence weekly: {publication.slug} offers no weekly roundup (weekly days: none)"
        )
    days = {WEEKDAYS.index(day) for day in publication.weekly_days}
    return next_edition_date(utcnow(), publication.send_time, publication.timezone, days)


def publish_changes(rt: Runtime, slug: str) -> None:
    """Flush the publication's pending public changes (just committed) and say what happened."""
    hub_url = rt.settings.websub_hub_url or None
    public_dir = changes.public_dir_of(rt.settings)
    outcomes = changes.flush(rt.database, public_dir, hub_url, publications=[slug])
    for outcome in outcomes:
        for line in outcome.lines(public_dir, hub_url):
            out.print(escape(line))


def rendered_edition(
    rt: Runtime, slug: str, edition_date: date | None, cadence: Cadence, slot: str
) -> int:
    """Assemble and render the edition if not done yet (both idempotent); returns its id."""
    with rt.database.session() as session:
        publication = get_publication(session, slug)
        day = edition_day(session, publication, edition_date, cadence, slot)
        digest = assemble(session, publication, day, cadence, slot).digest
        return digests.render_digest(session, digest.id).id


def published_edition(
    rt: Runtime, slug: str, edition_date: date | None, cadence: Cadence, slot: str
) -> int:
    """Render the edition if needed and, if it is not public yet, publish it; returns its id.

    Publishing before sending, as the pipeline does, puts the edition in the static
    export and tells the hub before the first email goes out.
    """
    with rt.database.session() as session:
        publication = get_publication(session, slug)
        day = edition_day(session, publication, edition_date, cadence, slot)
        digest = assemble(session, publication, day, cadence, slot).digest
        digest = digests.render_digest(session, digest.id)
        published = digest.state is DigestState.RENDERED
        if published:
            digests.publish_digest(session, digest.id)
            record_public(session, digest, "digest send")
    if published:
        publish_changes(rt, slug)
    return digest.id


def existing_digest(
    session: Session,
    slug: str,
    edition_date: date | None,
    cadence: Cadence = Cadence.DAILY,
    slot: str = "",
) -> int:
    """The id of the publication's edition (weekly roundup, slot's edition) of that date
    (default: today there), or NotFound naming the options that chose it."""
    publication = get_publication(session, slug)
    when = edition_date or local_today(utcnow(), publication.timezone)
    digest = digests.find_digest(session, publication.id, when, cadence, slot)
    if digest is None:
        options = "--date, --cadence weekly" if cadence is Cadence.WEEKLY else "--date"
        if slot:
            options += ", --slot"
        of = f" ({slot})" if slot else ""
        raise NotFoundError(
            f"{options}: {slug} has no {kind_of(cadence)} for {when.isoformat()}{of}"
        )
    return digest.id


def alert_digest(session: Session, slug: str, id_or_slug: str) -> int:
    """The id of the publication's alert of this briefing, or NotFound naming ``--alert``."""
    publication = get_publication(session, slug)
    briefing = get_briefing(session, id_or_slug)
    digest = find_alert(session, publication, briefing.id)
    if digest is None:
        raise NotFoundError(f"--alert: {slug} sent no alert of briefing {briefing.slug!r}")
    return digest.id


def send_args(rt: Runtime, workers: int, progress: Progress | None = None) -> SendArgs:
    """How ``digest send`` and ``digest resend`` send: the settings' links, tokens and options."""
    return SendArgs(
        base_url=rt.settings.base_url,
        tokens=tokens_for(rt.settings),
        options=dispatch_options(rt.settings, workers=workers),
        progress=progress,
    )
