"""Events benchmark: the Event Webhook storing signed posts, then the applier applying them.

A send's events (``processed`` and ``delivered`` for every reader, opens for a
fifth, clicks and hard bounces for a few) are posted as SendGrid does, 1,000 events
per signed post, by 4 concurrent posters, to the web app running under uvicorn in a
child process (after 4 untimed posts that warm it up); then ``apply_pending``
applies them all in this process. Printed
separately: the webhook's latency per post (p50, p99) and CPU per event of the web
process, the applier's events/s and CPU per event, and on PostgreSQL the CPU of its
server process per event. N = 20k readers on SQLite, and 50k on PostgreSQL when
``database_url`` names a server; ``scale`` multiplies N. Targets on 2 cores:
webhook p99 <= 100 ms, >= 20,000 events/s applied on PostgreSQL, >= 5,000/s on SQLite.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from newsletter import migrate
from newsletter.db import Database
from newsletter.delivery.events import apply_pending
from newsletter.delivery.models import Delivery, DeliveryState
from newsletter.providers.webhook_protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER
from newsletter.sendgrid_testserver.events import generate_signing_key, public_key_b64, sign
from tests.scratchdb import fresh_postgres

SQLITE_N = 20_000
POSTGRES_N = 50_000
POST_SIZE = 1_000
POSTERS = 4
WARM_UP = POSTERS  # posts sent one by one before the timed ones
DIGEST_ID = 1
T0 = 1_780_000_000
TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User plus system CPU seconds of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def seed(database: Database, readers: int) -> None:
    """``readers`` accepted deliveries of one edition, in batches of 1,000."""
    rows = [
        {
            "digest_id": DIGEST_ID,
            "subscriber_id": n,
            "list_id": 1,
            "batch_id": n // 1000 + 1,
            "state": DeliveryState.ACCEPTED,
        }
        for n in range(1, readers + 1)
    ]
    with database.session() as session:
        for start in range(0, len(rows), 10_000):
            session.execute(insert(Delivery), rows[start : start + 10_000])


def send_events(readers: int, seed_value: int = 12) -> list[dict[str, Any]]:
    """The events of one send to ``readers``, in the order SendGrid would post them."""
    rng = random.Random(seed_value)

    def one(kind: str, n: int, at: int, **extra: Any) -> dict[str, Any]:
        return {
            "email": f"reader{n}@example{n % 97}.org",
            "timestamp": T0 + at,
            "event": kind,
            "sg_event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "sg_message_id": f"msg{n // 1000}.filter0001.{n}",
            "smtp-id": f"<msg{n}@example.org>",
            "edition_id": str(DIGEST_ID),
            "subscriber_id": str(n),
            "batch_id": str(n // 1000 + 1),
            **extra,
        }

    events = [one("processed", n, 0) for n in range(1, readers + 1)]
    for n in range(1, readers + 1):
        if rng.random() < 0.005:
            events.append(one("bounce", n, 5, type="bounce", reason="550 5.1.1 no such user"))
        else:
            events.append(one("delivered", n, 5, response="250 2.0.0 OK"))
    for n in range(1, readers + 1):
        if rng.random() < 0.2:
            events.append(one("open", n, 60, useragent="Mail/1.0", ip="192.0.2.1"))
        if rng.random() < 0.03:
            events.append(one("click", n, 90, url="https://news.example.org/a", ip="192.0.2.1"))
    return events


def _serve(url: str, data_dir: str, public_key: str, port: int, ready: Any) -> None:
    """The web app under uvicorn (child process)."""
    import uvicorn

    from newsletter.app.factory import create_app
    from newsletter.settings import Settings

    settings = Settings(
        data_dir=Path(data_dir), database_url=url, sendgrid_webhook_public_key=public_key
    )
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # uvicorn's own readiness flag; the parent waits on ``ready``
        time.sleep(0.01)
    ready.set()
    thread.join()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post_all(url: str, key: Any, bodies: list[bytes]) -> list[float]:
    """Post every body with ``POSTERS`` concurrent posters; each post's latency in seconds."""

    def post(body: bytes) -> float:
        when = str(int(time.time()))
        headers = {SIGNATURE_HEADER: sign(key, when, body), TIMESTAMP_HEADER: when}
        request = urllib.request.Request(url, body, headers, method="POST")
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            if response.status != 200:
                raise RuntimeError(f"webhook answered {response.status}")
        return time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=POSTERS) as pool:
        return list(pool.map(post, bodies))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(label: str, url: str, readers: int, root: Path) -> dict[str, float]:
    """Seed, post through the webhook, apply; the figures of one database."""
    database = Database(url)
    migrate.upgrade(database.engine)
    seed(database, readers)
    database.dispose()
    events = send_events(readers)
    bodies = [
        json.dumps(events[i : i + POST_SIZE]).encode() for i in range(0, len(events), POST_SIZE)
    ]
    key = generate_signing_key()
    port = _free_port()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    web = context.Process(
        target=_serve, args=(url, str(root / label), public_key_b64(key), port, ready)
    )
    web.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the web app did not start within 60 s")
        webhook = f"http://127.0.0.1:{port}/webhooks/sendgrid"
        # A server that has been up a while: its first requests (imports, connections,
        # the broker) are not what a post costs, so the first few are not timed.
        warm = min(WARM_UP, len(bodies) // 2)
        for body in bodies[:warm]:
            post_all(webhook, key, [body])
        timed = bodies[warm:]
        before = process_cpu(web.pid or 0)
        latencies = post_all(webhook, key, timed)
        web_cpu = process_cpu(web.pid or 0) - before
    finally:
        web.terminate()
        web.join(30)
    applier = Database(url)
    try:
        backend = _backend_pid(applier)
        db_before = process_cpu(backend) if backend else 0.0
        cpu, started = time.process_time(), time.perf_counter()
        result = apply_pending(applier)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        db_cpu = process_cpu(backend) - db_before if backend else 0.0
    finally:
        applier.dispose()
    count = len(events)
    if result.events.applied != count:
        raise RuntimeError(f"{label}: applied {result.events.applied} of {count} events")
    figures = {
        f"{label}_webhook_p50_ms": statistics.median(latencies) * 1000,
        f"{label}_webhook_p99_ms": _percentile(latencies, 0.99) * 1000,
        f"{label}_web_cpu_us_per_event": web_cpu / (count - warm * POST_SIZE) * 1e6,
        f"{label}_applied_per_s": count / wall,
        f"{label}_applier_cpu_us_per_event": cpu / count * 1e6,
    }
    if backend:
        figures[f"{label}_db_cpu_us_per_event"] = db_cpu / count * 1e6
    return figures


def _backend_pid(database: Database) -> int | None:
    """The PostgreSQL server process of the database's one pooled connection (None: SQLite)."""
    if database.engine.dialect.name != "postgresql":
        return None
    with database.engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _print(figures: dict[str, float], label: str, events: int) -> None:
    get = figures.get
    print(
        f"events {label}: {events} events in posts of {POST_SIZE}, {POSTERS} posters: "
        f"webhook p50 {get(label + '_webhook_p50_ms', 0):.1f} ms, "
        f"p99 {get(label + '_webhook_p99_ms', 0):.1f} ms, "
        f"web CPU {get(label + '_web_cpu_us_per_event', 0):.1f} us/event"
    )
    line = (
        f"events {label}: applied {get(label + '_applied_per_s', 0):,.0f} events/s, "
        f"applier CPU {get(label + '_applier_cpu_us_per_event', 0):.1f} us/event"
    )
    if label + "_db_cpu_us_per_event" in figures:
        line += f", PostgreSQL CPU {figures[label + '_db_cpu_us_per_event']:.1f} us/event"
    print(line)


def run(
    scale: float = 1.0, database_url: str | None = None, db_prefix: str = "bench_"
) -> dict[str, float]:
    """Measure the webhook and the applier on SQLite, and on PostgreSQL if a server is named."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        root = Path(tmp)
        readers = max(100, int(SQLITE_N * scale))
        found = measure("sqlite", f"sqlite:///{root / 'events.sqlite3'}", readers, root)
        _print(found, "sqlite", len(send_events(readers)))
        figures.update(found)
        if database_url:
            readers = max(100, int(POSTGRES_N * scale))
            with fresh_postgres(database_url, f"{db_prefix}events_") as url:
                found = measure("postgresql", url, readers, root)
            _print(found, "postgresql", len(send_events(readers)))
            figures.update(found)
    return figures
