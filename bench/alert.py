"""Alert benchmark: the click to the last request the provider accepts, for N alert readers.

The production path from the editor's click: ``POST /api/briefings/{slug}/alert`` on the
web app (in this process, through its ASGI stack, with a publisher's API token) freezes,
renders and publishes the alert and puts its ``plan`` message on the Redis broker; a
``celery -A tasks worker`` (prefork, two processes, configured only by ``NEWSLETTER_*``
variables) plans the ledger and sends the batches through the ``sendgrid`` backend to
the SendGrid test server (a process of its own), which notes when it accepted the last
request. The figure is that moment minus the moment before the API call: target at
most 2 minutes for 100,000 readers.

The readers: N with alerts on (two in three on every topic, one in three on the
briefing's topic), and beside them N / 10 digest-only readers and N / 10 readers whose
alert topics miss the briefing's. The test server counts accepted copies per address:
every alert reader must have exactly one, nobody else any.

Needs PostgreSQL (``--database-url``, ``NEWSLETTER_BENCH_DATABASE_URL`` or
``NEWSLETTER_TEST_DATABASE_URL``) and a Redis database it may empty (``--broker-url``,
``NEWSLETTER_BENCH_BROKER_URL`` or ``NEWSLETTER_TEST_REDIS_URL``). N = 100,000 at scale 1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, literal, select

from bench import _stack
from bench.dispatch import analyze
from newsletter import migrate
from newsletter.app.factory import create_app
from newsletter.content.briefing import BriefingContent
from newsletter.content.edition import Cadence
from newsletter.db import Database, UTCDateTime, utcnow
from newsletter.digests.models import Digest, DigestState
from newsletter.editors import services as accounts
from newsletter.editors.models import Role
from newsletter.publications.models import Publication
from newsletter.settings import EmailBackend, Settings
from subscribers.models import Subscriber, Subscription, SubscriptionState
from subscribers.services import ensure_default_list

READERS = 100_000
BATCH = 1000  # the production default (NEWSLETTER_DISPATCH_BATCH_SIZE)
TARGET_S = 120.0
TOPIC = "Weather"


@dataclass(frozen=True)
class Audience:
    """Who is on the list: the addresses that must get the alert, and how many must not."""

    alert: frozenset[str]
    others: int


@dataclass(frozen=True)
class Figures:
    """One run: the click to the last accepted request, the API's own answer, the copies."""

    readers: int
    seconds: float
    api_seconds: float
    requests: int
    copies: dict[str, int]

    def check(self, audience: Audience) -> tuple[int, int, int]:
        """Duplicated, missing and unwanted copies; raise if any reader got other than one
        copy, or anyone outside the alert's audience got one."""
        duplicates = sum(1 for address, n in self.copies.items() if n > 1)
        missing = len(audience.alert - set(self.copies))
        unwanted = len(set(self.copies) - audience.alert)
        if duplicates or missing or unwanted:
            raise RuntimeError(
                f"alert: {duplicates} readers duplicated, {missing} missing, "
                f"{unwanted} outside the audience"
            )
        return duplicates, missing, unwanted

    def show(self) -> dict[str, float]:
        """Print the run's lines and return its figures."""
        rate = self.readers / self.seconds
        verdict = "within" if self.seconds <= TARGET_S else "OVER"
        print(
            f"alert: {self.readers:,} readers, click to last accepted request "
            f"{self.seconds:.1f} s ({verdict} the {TARGET_S:.0f} s target), {rate:,.0f} readers/s"
        )
        print(f"  the API answered in {self.api_seconds * 1000:.0f} ms; {self.requests} requests")
        return {
            "alert_seconds": self.seconds,
            "alert_api_ms": self.api_seconds * 1000,
            "alert_rate": rate,
            "alert_requests": float(self.requests),
        }


def _subscribe(database: Database, list_id: int, first: int, count: int, **kinds: Any) -> None:
    """``count`` confirmed readers r<first>... on the list, with these kinds of mail: one
    statement, the subscribers inserted and their subscriptions made from what it returned."""
    if count <= 0:
        return
    now = utcnow()
    n = func.generate_series(first, first + count - 1).column_valued("n")
    new = (
        insert(Subscriber)
        .from_select(
            ["email", "name", "created_at"],
            select(
                func.concat("r", n, "@example", n % 97, ".org"),
                func.concat("Reader ", n),
                literal(now, UTCDateTime()),
            ),
        )
        .returning(Subscriber.id)
        .cte("new")
    )
    columns = ["subscriber_id", "list_id", "state", "topics", "created_at", "updated_at"]
    values: list[Any] = [
        new.c.id,
        literal(list_id),
        literal(SubscriptionState.CONFIRMED, Subscription.state.type),
        literal([], Subscription.topics.type),
        literal(now, UTCDateTime()),
        literal(now, UTCDateTime()),
    ]
    # Every column without a server default, given (a CTE's insert gets no Python defaults).
    chosen = {"cadence": Cadence.DAILY, "digests": True, "alerts": False, "alert_topics": []}
    for name, value in {**chosen, **kinds}.items():
        columns.append(name)
        values.append(literal(value, getattr(Subscription, name).type))
    with database.session() as session:
        session.execute(insert(Subscription).from_select(columns, select(*values)))


def seed(database: Database, count: int) -> tuple[str, Audience]:
    """The publication, an approved briefing on ``TOPIC``, the readers and a publisher's
    API token; the token and the audience."""
    from newsletter.briefings.models import Briefing, BriefingRevision, BriefingState

    content = BriefingContent.model_validate(
        {
            "title": "Storm warning for the coast tonight",
            "slug": "storm-warning",
            "lede": ["The weather service warns of gusts up to 120 km/h after 22:00."],
            "topics": [{"name": TOPIC, "description": ""}],
        }
    )
    with database.session() as session:
        publication = Publication(
            slug="bench",
            name="Bench Daily",
            from_name="Bench Daily",
            from_email="bench@example.org",
            base_url="https://bench.example.org",
            postal_address="1 Bench Road",
            alerts_per_day=3,
        )
        session.add(publication)
        session.flush()
        list_id = ensure_default_list(session, publication).id
        briefing = Briefing(
            slug=content.slug,
            state=BriefingState.APPROVED,
            latest_revision=1,
            approved_revision=1,
            approved_at=utcnow() - timedelta(minutes=5),
            approved_by="Bench",
        )
        briefing.revisions.append(
            BriefingRevision(
                number=1,
                title=content.title,
                content=content.model_dump(mode="json"),
                content_hash=content.content_hash(),
            )
        )
        session.add(briefing)
        editor = accounts.create_editor(
            session, "Bench", "bench@example.org", Role.PUBLISHER, "bench password 123"
        )
        token = accounts.mint_token(session, editor).secret
    on_all = count * 2 // 3
    on_topic = count - on_all
    others = max(1, count // 10)
    _subscribe(database, list_id, 1, on_all, alerts=True)
    _subscribe(database, list_id, on_all + 1, on_topic, alerts=True, alert_topics=[TOPIC])
    base = count + 1
    _subscribe(database, list_id, base, others, alerts=False)  # digest only
    _subscribe(database, list_id, base + others, others, alerts=True, alert_topics=["Sport"])
    analyze(database)
    alert = frozenset(f"r{n}@example{n % 97}.org" for n in range(1, count + 1))
    return token, Audience(alert, 2 * others)


def _state(database: Database) -> DigestState | None:
    with database.session() as session:
        return session.scalar(select(Digest.state).where(Digest.cadence == "alert"))


def measure(
    server_url: str,
    broker_url: str,
    count: int,
    *,
    latency: float = 0.0,
    prefix: str = _stack.DEFAULT_PREFIX,
) -> tuple[Figures, Audience]:
    """Send one alert to ``count`` readers from the API call to the last accepted request."""
    with _stack.scratch(server_url, prefix) as (root, url):
        database = Database(url)
        try:
            migrate.upgrade(database.engine)
            token, audience = seed(database, count)
            with _stack.running(root, url, broker_url, latency=latency, batch_size=BATCH) as stack:
                clicked, answered = _click(stack, token)
                _stack.wait_for(
                    lambda: _state(database) in _stack.FINAL,
                    timeout=max(300.0, count / 200),
                    what=f"the alert to reach a final state (worker log: {stack.worker.log})",
                    every=0.2,
                )
        finally:
            database.dispose()
    tally = stack.tally
    figures = Figures(
        readers=count,
        seconds=tally["last_at"] - clicked,
        api_seconds=answered - clicked,
        requests=int(tally["requests"]),
        copies=tally["copies"],
    )
    return figures, audience


def _click(stack: _stack.Stack, token: str) -> tuple[float, float]:
    """The editor's click, once the worker is warm: the API call; (before, after) it."""
    settings = Settings(
        data_dir=stack.root / "web",
        database_url=stack.url,
        broker_url=stack.broker_url,
        secret_key=_stack.SECRET,
        base_url="https://bench.example.org",
        email_backend=EmailBackend.MEMORY,  # the web process sends nothing itself
    )
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        client.get("/api/briefings/storm-warning/alert?publication=bench", headers=headers)
        clicked = time.time()
        answer = client.post(
            "/api/briefings/storm-warning/alert", json={"publication": "bench"}, headers=headers
        )
        answered = time.time()
    if answer.status_code != 201:
        raise RuntimeError(f"the alert was refused: {answer.status_code} {answer.text}")
    return clicked, answered


def run(
    scale: float = 1.0,
    *,
    database_url: str | None = None,
    broker_url: str | None = None,
    latency: float = 0.0,
    db_prefix: str = _stack.DEFAULT_PREFIX,
) -> dict[str, float]:
    """One alert to 100,000 x scale readers; empty when PostgreSQL or Redis is missing."""
    urls = _stack.service_urls("alert", database_url, broker_url)
    if urls is None:
        return {}
    server_url, broker = urls
    count = max(100, int(READERS * scale))
    over = f", {latency * 1000:.0f} ms round trip" if latency else ""
    print(f"one alert to {count:,} readers on PostgreSQL through a real worker{over}")
    figures, audience = measure(server_url, broker, count, latency=latency, prefix=db_prefix)
    duplicates, missing, unwanted = figures.check(audience)
    out = figures.show()
    out.update(duplicates=duplicates, missing=missing, unwanted=unwanted)
    return out
