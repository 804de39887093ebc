"""The one publishing path: record a public change with the change, flush it after the commit.

    record(session, slug, feed_urls, reason)  inside the transaction that makes something
                                              public: a rollback drops it, a commit keeps it
    flush(database, public_dir, hub_url)      after the commit (the CLI at once, the pipeline's
                                              publish task, the beat tick for retries)

Flushing takes one publication at a time and all of its pending changes together:
one static export of the publication (and the home page, which lists every
publication's latest edition), then one WebSub ping carrying the union of their feed
URLs. Each change remembers which of the two it still needs, so a retry redoes only
what failed. A passing failure (a hub that is down, 5xx, 429, a timeout; an export's
``OSError``) keeps the changes pending with their attempts, the next attempt's time
(exponential backoff with full jitter, a hub's ``Retry-After`` honoured) and the last
error; a hub that refuses the ping (another 4xx) stops them as ``failed``, and
``GIVE_UP_AFTER`` bounds the retries (``gave_up``, the reason kept).

Two flushers at once: on PostgreSQL a flusher holds a transaction-scoped advisory
lock per publication (so two exports of one publication never write the same files
at once) and claims the rows with ``FOR UPDATE SKIP LOCKED``; another flusher skips
that publication, and the holder goes round again for changes recorded meanwhile.
SQLite has one writer and no such locks: two flushers there may both export and
ping, which repeats work but loses nothing (pings and exports are idempotent).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import BigInteger, func, literal, select
from sqlalchemy.orm import Session

from newsletter.db import Database, utcnow
from newsletter.digests.views import home_html
from newsletter.errors import InvalidInputError, PermanentError, RetryableError, UserError
from newsletter.feeds.export import HOME_PATH, export_feeds
from newsletter.feeds.websub import ping_hub
from newsletter.providers.retry import backoff_delay
from newsletter.publications.models import Publication
from newsletter.publications.services import get_publication
from newsletter.publishing.models import ChangeState, PublicChange
from newsletter.settings import Settings

log = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=24)
RETRY_BASE_S = 30.0
RETRY_CAP_S = 3600.0
ROUNDS = 3  # per publication and flush: changes recorded while a flush ran go out with it
REASON_MAX = 300
# PostgreSQL advisory locks are one 64-bit key space: the high half names this use.
LOCK_SPACE = 0x7075626C  # "publ"

ClientFactory = Callable[[], httpx.Client]


def public_dir_of(settings: Settings) -> Path:
    """Where the static export lives: ``<data dir>/public``."""
    return settings.data_dir / "public"


def record(
    session: Session,
    publication_slug: str,
    feed_urls: Sequence[str],
    reason: str,
    *,
    now: datetime | None = None,
) -> int:
    """Store a pending public change of a publication in the caller's transaction; its id.

    ``feed_urls`` are the feeds the change touches (the hub's ``hub.url`` values; may be
    empty when only pages change); ``reason`` says what happened, for people.
    """
    if isinstance(feed_urls, str):
        raise InvalidInputError("feed_urls: expected a list of URLs, got one string")
    text = reason.strip()
    if not text or len(text) > REASON_MAX:
        raise InvalidInputError(f"reason: must be 1 to {REASON_MAX} characters, got {len(text)}")
    for index, url in enumerate(feed_urls):
        if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
            raise InvalidInputError(f"feed_urls[{index}]: not an http(s) URL: {url!r}")
    publication = get_publication(session, publication_slug)
    at = now or utcnow()
    change = PublicChange(
        publication_id=publication.id,
        feed_urls=list(dict.fromkeys(feed_urls)),
        reason=text,
        created_at=at,
        next_attempt_at=at,
    )
    session.add(change)
    session.flush()
    return change.id


def due_count(session: Session, now: datetime) -> int:
    """How many publications have a pending change whose next attempt is due (for the tick)."""
    return (
        session.scalar(
            select(func.count(func.distinct(PublicChange.publication_id))).where(
                PublicChange.state == ChangeState.PENDING, PublicChange.next_attempt_at <= now
            )
        )
        or 0
    )


def list_changes(
    session: Session, *, finished: bool = False, limit: int = 100
) -> list[tuple[str, PublicChange]]:
    """Pending and stopped changes (with ``finished``: done ones too), newest first, with slugs."""
    query = select(Publication.slug, PublicChange).join(
        Publication, Publication.id == PublicChange.publication_id
    )
    if not finished:
        query = query.where(PublicChange.state != ChangeState.DONE)
    rows = session.execute(query.order_by(PublicChange.id.desc()).limit(limit))
    return [(slug, change) for slug, change in rows]


@dataclass(frozen=True)
class Outcome:
    """What one flush of one publication did, for logs and the command line."""

    publication: str
    changes: int
    state: ChangeState
    exported: int | None = None  # files written this time; None: not exported this time
    export_error: str | None = None
    told: int | None = None  # feed URLs the hub accepted this time; None: not pinged
    hub_error: str | None = None
    attempts: int = 0
    retry_at: datetime | None = None
    busy: bool = False  # another flusher holds this publication: it will send these too

    def lines(self, public_dir: Path | None, hub_url: str | None) -> list[str]:
        """Plain-text lines saying what was exported and whether the hub was told."""
        head = f"{self.publication}:"
        if self.busy:
            return [
                f"{head} another process is publishing it now; what it leaves pending is retried."
            ]
        out: list[str] = []
        if self.exported is not None:
            out.append(f"{head} exported {self.exported} files to {public_dir}.")
        elif self.export_error is not None:
            out.append(f"{head} static export failed: {self.export_error}.")
        elif public_dir is None:
            out.append(f"{head} no static export configured.")
        if self.told is not None:
            out.append(f"{head} told the WebSub hub {hub_url} about {self.told} feeds.")
        elif self.hub_error is not None:
            out.append(f"{head} WebSub hub not told: {self.hub_error}.")
        elif hub_url is None:
            out.append(f"{head} no WebSub hub configured.")
        if self.state is ChangeState.PENDING and self.retry_at is not None:
            when = self.retry_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            out.append(f"{head} will retry at {when} (attempt {self.attempts} failed).")
        elif self.state is ChangeState.FAILED:
            out.append(f"{head} not retried: the hub refused the ping.")
        elif self.state is ChangeState.GAVE_UP:
            out.append(f"{head} gave up after {self.attempts} attempts.")
        return out


@dataclass
class _Run:
    """One flush's fixed inputs."""

    database: Database
    public_dir: Path | None
    hub_url: str | None
    now: datetime | None
    client: ClientFactory
    rng: random.Random | None
    force: bool
    outcomes: list[Outcome] = field(default_factory=list)

    def clock(self) -> datetime:
        return self.now or utcnow()


def flush(
    database: Database,
    public_dir: Path | None,
    hub_url: str | None,
    *,
    publications: Sequence[str] | None = None,
    now: datetime | None = None,
    client: ClientFactory = httpx.Client,
    rng: random.Random | None = None,
    force: bool = False,
) -> list[Outcome]:
    """Export and announce every publication with due pending changes; what happened to each.

    ``publications`` limits it to these slugs; ``force`` also takes changes whose next
    attempt is not due yet. Failures are recorded, not raised.
    """
    run = _Run(database, public_dir, hub_url or None, now, client, rng, force)
    with database.session() as session:
        query = (
            select(Publication.id, Publication.slug)
            .join(PublicChange, PublicChange.publication_id == Publication.id)
            .where(PublicChange.state == ChangeState.PENDING)
            .distinct()
            .order_by(Publication.slug)
        )
        if not force:
            query = query.where(PublicChange.next_attempt_at <= run.clock())
        if publications is not None:
            query = query.where(Publication.slug.in_(list(publications)))
        due = [(publication_id, slug) for publication_id, slug in session.execute(query)]
    for publication_id, slug in due:
        for _ in range(ROUNDS):
            outcome = _flush_one(run, publication_id, slug)
            if outcome is None:
                break
            run.outcomes.append(outcome)
            if outcome.state is not ChangeState.DONE:
                break
    return run.outcomes


def _claim(
    session: Session, publication_id: int, now: datetime, force: bool
) -> list[PublicChange] | None:
    """Lock the publication's pending changes; None if another flusher holds it, [] if none due."""
    if session.get_bind().dialect.name == "postgresql":
        key = literal((LOCK_SPACE << 32) | publication_id, BigInteger)
        if not session.scalar(select(func.pg_try_advisory_xact_lock(key))):
            return None
    rows = list(
        session.scalars(
            select(PublicChange)
            .where(
                PublicChange.publication_id == publication_id,
                PublicChange.state == ChangeState.PENDING,
            )
            .order_by(PublicChange.id)
            .with_for_update(skip_locked=True)
        )
    )
    if not force and not any(row.next_attempt_at <= now for row in rows):
        return []
    return rows


@dataclass
class _Attempt:
    """What the two stages of one round did."""

    exported: int | None = None
    export_error: str | None = None
    told: int | None = None
    hub_error: str | None = None
    retry_after: float | None = None
    permanent: bool = False  # the hub refused, or the export cannot succeed: do not retry

    @property
    def error(self) -> str:
        """Both stages' errors on one line."""
        parts = [("export", self.export_error), ("hub", self.hub_error)]
        return "; ".join(f"{stage}: {text}" for stage, text in parts if text)


def _flush_one(run: _Run, publication_id: int, slug: str) -> Outcome | None:
    """One round for one publication in one transaction; None when nothing was due."""
    with run.database.session() as session:
        now = run.clock()
        rows = _claim(session, publication_id, now, run.force)
        if rows is None:
            log.info("publishing %s: another flusher holds it", slug)
            return Outcome(slug, 0, ChangeState.PENDING, busy=True)
        if not rows:
            return None
        attempt = _Attempt()
        if run.public_dir is not None and any(row.exported_at is None for row in rows):
            _export_stage(session, slug, run, rows, attempt, now)
        if run.hub_url is not None:
            _hub_stage(run, run.hub_url, rows, attempt, now)
        done = all(
            (run.public_dir is None or row.exported_at is not None)
            and (run.hub_url is None or row.announced_at is not None or not row.feed_urls)
            for row in rows
        )
        state, retry_at = _settle(slug, rows, attempt, done, now, run.rng)
        return Outcome(
            slug,
            len(rows),
            state,
            exported=attempt.exported,
            export_error=attempt.export_error,
            told=attempt.told,
            hub_error=attempt.hub_error,
            attempts=max(row.attempts for row in rows),
            retry_at=retry_at,
        )


def _export_stage(
    session: Session,
    slug: str,
    run: _Run,
    rows: list[PublicChange],
    attempt: _Attempt,
    now: datetime,
) -> None:
    """Rewrite the publication's static files and the home page; record the result."""
    assert run.public_dir is not None
    try:
        result = export_feeds(session, run.public_dir, publication=slug, hub_url=run.hub_url)
        # The home page shows every publication's latest edition: it changes too.
        result.write(HOME_PATH, home_html(session).encode("utf-8"))
    except OSError as exc:
        attempt.export_error = f"{type(exc).__name__}: {exc}"
        return
    except UserError as exc:  # the publication is gone, or its data cannot be exported
        attempt.export_error, attempt.permanent = str(exc), True
        return
    attempt.exported = len(result.files)
    for row in rows:
        row.exported_at = row.exported_at or now


def _hub_stage(
    run: _Run, hub_url: str, rows: list[PublicChange], attempt: _Attempt, now: datetime
) -> None:
    """One ping with every feed URL the hub has not heard of yet; record the result."""
    waiting = [row for row in rows if row.announced_at is None and row.feed_urls]
    urls = list(dict.fromkeys(url for row in waiting for url in row.feed_urls))
    if not urls:
        return
    try:
        with run.client() as client:
            ping_hub(hub_url, urls, client)
    except RetryableError as exc:
        attempt.hub_error, attempt.retry_after = str(exc), exc.retry_after
        return
    except (PermanentError, UserError) as exc:
        attempt.hub_error, attempt.permanent = str(exc), True
        return
    attempt.told = len(urls)
    for row in waiting:
        row.announced_at = now


def _settle(
    slug: str,
    rows: list[PublicChange],
    attempt: _Attempt,
    done: bool,
    now: datetime,
    rng: random.Random | None,
) -> tuple[ChangeState, datetime | None]:
    """Move the claimed changes on: done, failed, gave up, or pending until a later attempt.

    Each change is given up on its own once ``GIVE_UP_AFTER`` has passed since it was
    recorded: a fresh change that joined an old one's retries gets its own full day.
    """
    for row in rows:
        row.attempts += 1
        row.last_error = None if done else attempt.error
    if done:
        for row in rows:
            row.move(ChangeState.DONE, now)
        log.info("publishing %s: %d change(s) done", slug, len(rows))
        return ChangeState.DONE, None
    if attempt.permanent:
        for row in rows:
            row.move(ChangeState.FAILED, now)
        log.error("publishing %s: failed, not retried (%s)", slug, attempt.error)
        return ChangeState.FAILED, None
    waiting = [row for row in rows if now - row.created_at < GIVE_UP_AFTER]
    for row in rows:
        if row not in waiting:
            row.last_error = (
                f"gave up after {row.attempts} attempts over {now - row.created_at}: "
                f"{attempt.error}"
            )
            row.move(ChangeState.GAVE_UP, now)
            log.error("publishing %s: change %d %s", slug, row.id, row.last_error)
    if not waiting:
        return ChangeState.GAVE_UP, None
    tries = max(row.attempts for row in waiting)
    delay = backoff_delay(
        tries, retry_after=attempt.retry_after, base=RETRY_BASE_S, cap=RETRY_CAP_S, rng=rng
    )
    retry_at = now + timedelta(seconds=delay)
    for row in waiting:
        row.next_attempt_at = retry_at
    # Info, not a warning: the callers print or log the outcome's lines themselves.
    log.info(
        "publishing %s: attempt %d failed (%s); next at %s", slug, tries, attempt.error, retry_at
    )
    return ChangeState.PENDING, retry_at
