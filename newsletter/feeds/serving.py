"""One web worker's feed server: current built feeds for as little as one query each.

``FeedServer.get`` reads the publication's data version (``freshness``) and answers
from the in-memory ``FeedCache`` while the version holds. On a miss it loads only
what the feed shows (``loading``), renders it in all three formats at once (readers
ask for one, their neighbours for the others; the entries are the costly part),
compresses each once, records when each ETag changed (``Last-Modified``), and keeps
them. The topic index is kept per publication and version, and each edition's topic
names across versions, so a new version reads only the new or changed editions' items.

Version reads use their own small connection pool in autocommit mode and without the
pre-ping the main engine does on every checkout: a round trip saved per request,
which is most of what a 304 costs. A connection that died is noticed by the query
failing, and the query is tried once more on a fresh one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from newsletter.db import Database, utcnow
from newsletter.errors import NotFoundError
from newsletter.feeds.cache import BuiltFeed, FeedCache, FeedKey, compress, gzip_etag
from newsletter.feeds.conditional import etag_of
from newsletter.feeds.freshness import VERSION_QUERY, current_version, stamp
from newsletter.feeds.loading import (
    EditionTopics,
    TopicIndex,
    load_feed,
    read_topic_names,
    topic_index,
)
from newsletter.feeds.models import DEFAULT_LIMIT
from newsletter.publications.models import Publication
from newsletter.urls import FEED_FORMATS

READER_POOL_SIZE = 4


def reader_engine(database: Database) -> Engine:
    """An autocommit engine for version reads (SQLite: the database's own engine)."""
    if database.engine.dialect.name == "sqlite":
        return database.engine.execution_options(isolation_level="AUTOCOMMIT")
    return create_engine(
        database.url,
        isolation_level="AUTOCOMMIT",
        pool_size=READER_POOL_SIZE,
        max_overflow=2 * READER_POOL_SIZE,
    )


class _HeldReader:
    """One DBAPI connection kept for version reads, and the version query compiled for it.

    On PostgreSQL (psycopg) the query is a server-side prepared statement run through
    libpq directly (``pgconn.exec_prepared``): a third of the CPU of a cursor
    ``execute`` + ``fetchone``, on the path every feed request takes.
    """

    _PREPARED = b"feeds_version"

    def __init__(self, engine: Engine) -> None:
        compiled = VERSION_QUERY.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._positional = engine.dialect.positional
        self._names = list(compiled.positiontup or ())
        self._fairy = engine.raw_connection()
        driver = self._fairy.driver_connection
        self._pgconn: Any = None
        if engine.dialect.name == "postgresql":
            driver.autocommit = True  # type: ignore[union-attr]
            libpq_sql = self._sql.replace("%(slug)s", "$1")
            pgconn = getattr(driver, "pgconn", None)
            if pgconn is not None and "$1" in libpq_sql:
                self._check(pgconn.prepare(self._PREPARED, libpq_sql.encode()))
                self._pgconn = pgconn

    def _check(self, result: Any) -> Any:
        """A libpq result, or the driver's error (so the caller retries on a new connection)."""
        from psycopg import OperationalError
        from psycopg.pq import ExecStatus

        if result.status not in (ExecStatus.COMMAND_OK, ExecStatus.TUPLES_OK):
            message = result.error_message.decode("utf-8", "replace")
            raise OperationalError(f"feed version query failed: {message}")
        return result

    def version(self, slug: str) -> tuple[int, int]:
        """The publication's id and data version, or ``NotFoundError``."""
        if self._pgconn is not None:
            result = self._check(self._pgconn.exec_prepared(self._PREPARED, [slug.encode()]))
            if result.ntuples == 0:
                raise NotFoundError(f"unknown publication {slug!r}")
            return int(result.get_value(0, 0)), int(result.get_value(0, 1))
        params = {"slug": slug}
        args: Any = tuple(params[name] for name in self._names) if self._positional else params
        cursor = self._fairy.cursor()
        try:
            cursor.execute(self._sql, args)
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            raise NotFoundError(f"unknown publication {slug!r}")
        return int(row[0]), int(row[1])

    def close(self, *, invalidate: bool = False) -> None:
        """Give the connection back (or discard it when it failed)."""
        if invalidate:
            self._fairy.invalidate()
        self._fairy.close()


class FeedServer:
    """Built feeds of every publication for one process, current to the committed data."""

    def __init__(
        self,
        database: Database,
        cache: FeedCache | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.cache = cache if cache is not None else FeedCache()
        self.limit = limit
        self.clock = clock
        self.builds = 0
        self._reader = reader_engine(database)
        self._own_reader = self._reader is not database.engine and (
            self._reader.pool is not database.engine.pool
        )
        self._indexes: dict[int, tuple[int, TopicIndex]] = {}
        self._topic_names: dict[int, dict[int, EditionTopics]] = {}
        self._lock = threading.Lock()
        self._held: dict[int, _HeldReader] = {}
        self._builds: dict[tuple[int, str, str | None], threading.Lock] = {}
        self._dbapi_error: type[Exception] = self._reader.dialect.loaded_dbapi.Error

    def close(self) -> None:
        """Close the version readers' connections."""
        with self._lock:
            held, self._held = list(self._held.values()), {}
        for connection in held:
            connection.close()
        if self._own_reader:
            self._reader.dispose()

    def version(self, slug: str) -> tuple[int, int]:
        """The publication's id and current data version, or ``NotFoundError``."""
        try:
            with self._reader.connect() as connection:
                return current_version(connection, slug)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        with self._reader.connect() as connection:
            return current_version(connection, slug)

    def held_version(self, slug: str) -> tuple[int, int]:
        """``version`` on a DBAPI connection this thread keeps, with a pre-compiled query.

        For the event loop's thread, where current feeds are answered without a thread
        hop: no pool checkout, no SQL compilation, no transaction per call (reads on
        it are autocommit). A connection that failed is dropped and the query tried
        once on a new one.
        """
        thread = threading.get_ident()
        held = self._held.get(thread)
        if held is not None:
            try:
                return held.version(slug)
            except self._dbapi_error:
                with self._lock:
                    self._held.pop(thread, None)
                held.close(invalidate=True)
        held = _HeldReader(self._reader)
        with self._lock:
            self._held[thread] = held
        return held.version(slug)

    def get(self, slug: str, kind: str, fmt: str, hub_url: str | None = None) -> BuiltFeed:
        """The current feed ``kind`` of publication ``slug`` in ``fmt``."""
        if fmt not in FEED_FORMATS:
            raise NotFoundError(f"unknown feed format {fmt!r} (expected rss, atom or json)")
        publication_id, version = self.version(slug)
        key = FeedKey(publication_id, kind, fmt, hub_url or None)
        built = self.cache.get(key, version)
        if built is not None:
            return built
        # One build per feed at a time: requests that missed together wait for it.
        with self._building(publication_id, kind, hub_url or None):
            built = self.cache.get(key, version)
            if built is None:
                built = self._build(publication_id, version, kind, hub_url or None)[fmt]
        return built

    def _building(self, publication_id: int, kind: str, hub_url: str | None) -> threading.Lock:
        with self._lock:
            return self._builds.setdefault((publication_id, kind, hub_url), threading.Lock())

    def _index(
        self,
        session: Session,
        publication: Publication,
        version: int,
        registry: Mapping[str, str],
    ) -> TopicIndex:
        """The publication's topic index at ``version``, built once per version."""
        with self._lock:
            kept = self._indexes.get(publication.id)
        if kept is not None and kept[0] == version:
            return kept[1]
        with self._lock:
            known = self._topic_names.get(publication.id)
        names = read_topic_names(session, publication, known)
        built = topic_index(names, registry)
        with self._lock:
            self._topic_names[publication.id] = names
            self._indexes[publication.id] = (version, built)
        return built

    def _build(
        self, publication_id: int, version: int, kind: str, hub_url: str | None
    ) -> dict[str, BuiltFeed]:
        with self.database.session() as session:
            publication = session.get(Publication, publication_id)
            if publication is None:
                raise NotFoundError(f"publication {publication_id} is gone")
            feed = load_feed(
                session,
                publication,
                kind,
                hub_url=hub_url,
                limit=self.limit,
                index=lambda registry: self._index(session, publication, version, registry),
            )
        bodies = {fmt: feed.render(fmt) for fmt in FEED_FORMATS}
        etags = {fmt: etag_of(body) for fmt, body in bodies.items()}
        now = self.clock()
        with self.database.session() as session:
            dates = {
                fmt: stamp(session, publication_id, kind, fmt, etags[fmt], now)
                for fmt in FEED_FORMATS
            }
        self.builds += 1
        built = {
            fmt: BuiltFeed(
                body=body,
                gzip_body=compress(body),
                etag=etags[fmt],
                gzip_etag=gzip_etag(etags[fmt]),
                last_modified=dates[fmt],
                self_url=feed.spec.url(fmt),
                version=version,
            )
            for fmt, body in bodies.items()
        }
        for fmt, one in built.items():
            self.cache.put(FeedKey(publication_id, kind, fmt, hub_url), one)
        return built
