"""Dispatch benchmark: one edition to N synthetic subscribers through the SendGrid test server.

N = 100k on SQLite, and N = 1M on PostgreSQL when ``NEWSLETTER_TEST_DATABASE_URL``
(or ``NEWSLETTER_BENCH_DATABASE_URL``) names a server, after a run of N / 10 there to
show that peak memory does not grow with N; ``scale`` multiplies every N.
The dispatch (plan, claim, send, record) runs in a child process so its peak memory
(``VmHWM``) is its own; the test server runs in this process, as SendGrid
would run elsewhere. For comparison, a naive loop sends one request per recipient
with the ``sendgrid`` package (N = 5k). Targets: >= 20k recipients/s on PostgreSQL,
peak memory <= 150 MB and flat as N grows, >= 100x the naive loop. The loopback test
server answers in about a millisecond, which flatters the naive loop; so both are
measured again with a 20 ms round trip added to every request, as to the real API.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sendgrid import SendGridAPIClient
from sqlalchemy import insert, literal, select, text
from sqlalchemy.exc import DBAPIError

from bench._stack import DEFAULT_PREFIX
from bench.render import edition
from newsletter import migrate
from newsletter.db import Database, UTCDateTime
from newsletter.delivery.report import delivery_report
from newsletter.digests.models import Digest, DigestState
from newsletter.pipeline.dispatch import dispatch
from newsletter.providers.sendgrid import SendGridSender
from newsletter.publications.models import Publication
from newsletter.render.email import render_email
from newsletter.sendgrid_testserver.server import (
    AcceptedRequest,
    RejectedRequest,
    SendGridTestServer,
)
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.services import ensure_default_list
from subscribers.tokens import Tokens
from tests.scratchdb import fresh_postgres

SQLITE_N = 100_000
POSTGRES_N = 1_000_000
NAIVE_N = 5_000
# A conservative round trip to a mail API across the internet, for a second comparison.
ROUND_TRIP = 0.020
ROUND_TRIP_NAIVE_N = 250
ROUND_TRIP_N = 100_000
CHUNK = 20_000
# Dispatch processes sharing the ledger, as Celery workers would. SQLite has one
# writer at a time, so a second process there only waits for the lock.
PROCESSES = {"SQLite": 1, "PostgreSQL": 2}
T0 = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)


class CountingServer(SendGridTestServer):
    """The test server, counting accepted recipients instead of keeping every request."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.recipients = 0
        self.requests = 0
        self._count_lock = threading.Lock()

    def _record(self, item: AcceptedRequest | RejectedRequest) -> None:
        if isinstance(item, AcceptedRequest):
            with self._count_lock:
                self.recipients += len(item.payload["personalizations"])
                self.requests += 1
        else:
            super()._record(item)


def seed(database: Database, count: int) -> int:
    """A publication, a rendered edition and ``count`` confirmed subscribers; the digest id."""
    email = render_email(edition(10))
    with database.session() as session:
        publication = Publication(
            slug="bench",
            name="Bench Daily",
            from_name="Bench Daily",
            from_email="bench@example.org",
            base_url="https://bench.example.org",
            postal_address="1 Bench Road",
        )
        session.add(publication)
        session.flush()
        list_id = ensure_default_list(session, publication).id
        digest = Digest(
            publication=publication,
            edition_date=date(2026, 3, 4),
            state=DigestState.RENDERED,
            cutoff_at=T0,
            subject=email.subject,
            html=email.html,
            text=email.text,
            rendered_at=T0,
        )
        session.add(digest)
        session.flush()
        digest_id = digest.id
    for start in range(0, count, CHUNK):
        numbers = range(start, min(count, start + CHUNK))
        with database.session() as session:
            session.execute(
                insert(Subscriber),
                [
                    {"email": f"r{n}@example{n % 97}.org", "name": f"Reader {n}", "created_at": T0}
                    for n in numbers
                ],
            )
    subscribe_everyone(database, list_id)
    analyze(database)
    return digest_id


def subscribe_everyone(database: Database, list_id: int) -> None:
    """A confirmed subscription to the list, choosing no topics, for every subscriber."""
    columns = ["subscriber_id", "list_id", "state", "topics", "created_at", "updated_at"]
    rows = select(
        Subscriber.id,
        literal(list_id),
        literal(SubscriptionState.CONFIRMED, Subscription.state.type),
        literal([], Subscription.topics.type),
        literal(T0, UTCDateTime()),
        literal(T0, UTCDateTime()),
    )
    with database.session() as session:
        session.execute(insert(Subscription).from_select(columns, rows))


def analyze(database: Database) -> None:
    """Settle the freshly loaded tables as a list that grew over time is (no-op on SQLite).

    A list that grew to a million has statistics and has been vacuumed (autovacuum
    sees to that); a freshly loaded one would have the planner guess, and its first
    readers would set every row's hint bits and the visibility map while being timed.
    A checkpoint then writes the load out, so that neither run of a comparison pays
    for the other's (or its own) load in the middle of its measurement; it needs a
    superuser or ``pg_checkpoint``, and is skipped with a note otherwise.
    """
    if database.engine.dialect.name != "postgresql":
        return
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
        try:
            connection.execute(text("CHECKPOINT"))
        except DBAPIError as error:
            print(f"  (no checkpoint after loading: {error.orig})")


def peak_memory_mb() -> float:
    """This process's own peak resident memory in MB.

    Linux's ``ru_maxrss`` carries the high-water mark of the process that forked
    before ``exec``: a spawned child would report the benchmark parent's peak (which
    grows with the seeding), so ``VmHWM``, reset by ``exec``, is read where it exists.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _child(url: str, host: str, key: str, digest_id: int, results: Any) -> None:
    """The measured part: a whole dispatch, then this process's own peak memory."""
    database = Database(url)
    sender = SendGridSender(key, host=host, timeout=30)
    started = time.time()
    cpu_before = time.process_time()
    dispatch(
        database,
        digest_id,
        sender,
        base_url="https://app.example.org",
        tokens=Tokens("bench-secret-" + "x" * 32),
    )
    finished = time.time()
    cpu = time.process_time() - cpu_before
    peak_mb = peak_memory_mb()
    results.put({"started": started, "finished": finished, "peak_mb": peak_mb, "cpu": cpu})
    database.dispose()


def measure(
    label: str,
    url: str,
    count: int,
    *,
    latency: float = 0.0,
    seeder: Callable[[Database, int], int] = seed,
    processes: int | None = None,
) -> dict[str, float]:
    """Seed ``count`` subscribers at ``url`` (``seeder``) and dispatch to them through the server.

    ``processes`` dispatch processes share the ledger (default: ``PROCESSES[label]``).
    """
    processes = processes or PROCESSES[label]
    database = Database(url)
    migrate.upgrade(database.engine)
    started = time.perf_counter()
    digest_id = seeder(database, count)
    seeded = time.perf_counter() - started
    database.dispose()
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    server_cpu = time.process_time()  # this process does nothing else but serve meanwhile
    with CountingServer(latency=latency) as server:
        children = [
            context.Process(
                target=_child, args=(database.url, server.url, server.api_key, digest_id, results)
            )
            for _ in range(processes)
        ]
        for child in children:
            child.start()
        outcomes = [results.get(timeout=3600) for _ in children]
        for child in children:
            child.join()
        delivered = server.recipients
    server_cpu = time.process_time() - server_cpu
    with database.session() as session:
        report = delivery_report(session, digest_id)
    database.dispose()
    if delivered != count or report.sent != count or report.state != "sent":
        raise RuntimeError(f"{label}: {delivered} delivered, {report.sent} sent of {count}")
    seconds = max(o["finished"] for o in outcomes) - min(o["started"] for o in outcomes)
    peak = max(o["peak_mb"] for o in outcomes)
    rate = count / seconds
    over = f", {latency * 1000:.0f} ms round trip" if latency else ""
    print(f"dispatch, {count:,} recipients on {label}{over} (seeded in {seeded:.1f} s)")
    print(f"  {seconds:.1f} s with {processes} process(es), {rate:,.0f} recipients/s")
    print(f"  peak memory per process {peak:.0f} MB")
    # The test server and the database share this machine's cores with the dispatch;
    # the dispatch's own CPU time tells what one core of workers alone can do.
    cpu = sum(o["cpu"] for o in outcomes)
    print(
        f"  dispatch CPU {cpu:.1f} s, {cpu / count * 1e6:.0f} µs per recipient "
        f"({count / cpu:,.0f} recipients/s per core of workers); "
        f"test server CPU {server_cpu / count * 1e6:.0f} µs per recipient"
    )
    return {"rate": rate, "peak_mb": peak, "seconds": seconds, "cpu": cpu}


def naive(count: int, *, latency: float = 0.0) -> float:
    """Recipients per second sending one request per recipient with the sendgrid package."""
    email = render_email(edition(10))
    with CountingServer(latency=latency) as server:
        client = SendGridAPIClient(server.api_key, host=server.url)
        started = time.perf_counter()
        for n in range(count):
            client.send(_naive_mail(n, email.subject, email.text, email.html))
        elapsed = time.perf_counter() - started
        if server.recipients != count:
            raise RuntimeError(f"naive loop: {server.recipients} of {count} accepted")
    rate = count / elapsed
    over = f", {latency * 1000:.0f} ms round trip" if latency else ""
    print(
        f"naive loop, one request per recipient, {count:,} recipients{over}: "
        f"{rate:,.0f} recipients/s"
    )
    return rate


def _naive_mail(n: int, subject: str, text_part: str, html: str) -> Any:
    from sendgrid.helpers.mail import Content, From, Mail, To

    mail = Mail(from_email=From("bench@example.org", "Bench Daily"), subject=subject)
    mail.add_to(To(f"r{n}@example{n % 97}.org"))
    mail.add_content(Content("text/plain", text_part))
    mail.add_content(Content("text/html", html))
    return mail


def _with_fresh_postgres(
    server_url: str, count: int, *, latency: float = 0.0, prefix: str = DEFAULT_PREFIX
) -> dict[str, float]:
    """``measure`` on a new database ``<prefix><random>`` on ``server_url``, dropped after."""
    with fresh_postgres(server_url, prefix) as url:
        return measure("PostgreSQL", url, count, latency=latency)


def _postgres_url() -> str:
    """The PostgreSQL server from the environment, or ""."""
    return os.environ.get("NEWSLETTER_BENCH_DATABASE_URL") or os.environ.get(
        "NEWSLETTER_TEST_DATABASE_URL", ""
    )


def run(
    scale: float = 1.0,
    *,
    database_url: str | None = None,
    latency: float = 0.0,
    db_prefix: str = DEFAULT_PREFIX,
) -> dict[str, float]:
    """Dispatch benchmarks on SQLite (and PostgreSQL if configured) plus the naive loop.

    ``database_url`` names the PostgreSQL server (default: ``NEWSLETTER_BENCH_DATABASE_URL``,
    else ``NEWSLETTER_TEST_DATABASE_URL``; "" for none), ``latency`` the test server's
    delay for the main runs, ``db_prefix`` the start of the databases' names.
    """
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        sqlite = measure("SQLite", url, max(100, int(SQLITE_N * scale)), latency=latency)
    figures["sqlite_rate"] = sqlite["rate"]
    figures["sqlite_peak_mb"] = sqlite["peak_mb"]
    server_url = _postgres_url() if database_url is None else database_url
    if server_url:
        # The same dispatch at a tenth of the size first: flat memory means the same peak.
        small_n, big_n = max(100, int(POSTGRES_N * scale / 10)), max(100, int(POSTGRES_N * scale))
        small = _with_fresh_postgres(server_url, small_n, latency=latency, prefix=db_prefix)
        postgres = _with_fresh_postgres(server_url, big_n, latency=latency, prefix=db_prefix)
        figures["postgres_rate"] = postgres["rate"]
        figures["postgres_peak_mb"] = postgres["peak_mb"]
        growth = postgres["peak_mb"] - small["peak_mb"]
        figures["postgres_peak_growth_mb"] = growth
        print(f"peak memory grew {growth:+.0f} MB from a tenth of the recipients (target: flat)")
    else:
        print("PostgreSQL: skipped (set NEWSLETTER_TEST_DATABASE_URL)")
    figures["naive_rate"] = naive(max(10, int(NAIVE_N * scale)))
    best = figures.get("postgres_rate", figures["sqlite_rate"])
    figures["speedup"] = best / figures["naive_rate"]
    print(f"batched dispatch vs naive loop: {figures['speedup']:,.0f}x (target >= 100x)")
    # The loopback test server answers in about a millisecond; SendGrid is a trip over
    # the internet away. The same comparison with that trip added to every request:
    naive_rtt = naive(max(10, int(ROUND_TRIP_NAIVE_N * scale)), latency=ROUND_TRIP)
    rtt_count = max(100, int(ROUND_TRIP_N * scale))
    if server_url:
        batched_rtt = _with_fresh_postgres(
            server_url, rtt_count, latency=ROUND_TRIP, prefix=db_prefix
        )
    else:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
            batched_rtt = measure("SQLite", url, rtt_count, latency=ROUND_TRIP)
    figures["speedup_round_trip"] = batched_rtt["rate"] / naive_rtt
    print(
        f"with a {ROUND_TRIP * 1000:.0f} ms round trip: batched dispatch vs naive loop "
        f"{figures['speedup_round_trip']:,.0f}x"
    )
    return figures
