"""CSV import benchmark: 1M subscribers streamed into a fresh database.

Targets: at least 20,000 rows per second for the whole import (read, validate every
address with email-validator, insert subscribers, subscriptions and consent records
in one transaction) and at most 150 MB peak memory for a million rows. The import
runs in a fresh Python process, so its peak resident memory (``VmHWM``, the
interpreter and every import included) and CPU time are the import's alone; the CSV
is written beforehand, one line at a time. Prints rows/s, peak memory and CPU per row.

The database is a fresh SQLite file, or, given ``database_url`` (``--database-url``
or ``$NEWSLETTER_BENCH_DATABASE_URL`` / ``$NEWSLETTER_TEST_DATABASE_URL``), a fresh
PostgreSQL database on that server; there the server backends' CPU per row is printed
too (when the server runs on this machine).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ROWS = 1_000_000
TIMEZONES = ("UTC", "Europe/London", "America/New_York", "Asia/Tokyo")
TARGET_RATE = 20_000
TARGET_PEAK_MB = 150


def _write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,topics,timezone,locale\n")
        for number in range(rows):
            topics = "Science;Sport" if number % 3 == 0 else ""
            tz = TIMEZONES[number % len(TIMEZONES)]
            out.write(f"reader{number}@example{number % 97}.org,Reader {number},{topics},{tz},en\n")


def _peak_kb() -> int:
    """This process's peak resident memory in KiB.

    ``VmHWM`` starts afresh at ``exec``; ``ru_maxrss`` would carry over the parent's
    peak from the fork (Linux keeps it across ``execve``).
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # pragma: no cover - not Linux


def _backend(session: Session) -> int:
    """The process id of the PostgreSQL backend serving ``session`` (0: SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return 0
    return int(session.scalars(text("SELECT pg_backend_pid()")).one())


def child(folder: str, rows: int, database_url: str = "") -> None:
    """In the fresh process: set up the database, import the file, print the figures."""
    from bench._cpu import process_cpu
    from newsletter.publications.models import Publication
    from newsletter.runtime import Runtime
    from newsletter.settings import Settings
    from subscribers import csvio, services
    from subscribers.models import Subscriber

    runtime = Runtime(Settings(data_dir=Path(folder), database_url=database_url))
    try:
        runtime.ensure_schema()
        with runtime.database.session() as session:
            publication = Publication(
                slug="bench",
                name="Bench",
                from_name="Bench",
                from_email="bench@example.org",
                base_url="https://bench.example.org",
                postal_address="1 Bench Road",
                topics=["Science", "Sport", "Politics"],
            )
            session.add(publication)
            session.flush()
            services.ensure_default_list(session, publication)
        cpu = time.process_time()
        started = time.perf_counter()
        with runtime.database.session() as session:
            backend = _backend(session)
            server_cpu = process_cpu(backend) if backend else None
            report = csvio.import_csv(
                session,
                Path(folder) / "people.csv",
                list_slug="bench",
                confirmed=True,
                consent="benchmark",
            )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        if backend and server_cpu is not None:
            after = process_cpu(backend)
            server_cpu = after - server_cpu if after is not None else None
        with runtime.database.session() as session:
            stored = session.query(Subscriber).count()
    finally:
        runtime.close()
    peak_kb = _peak_kb()
    figures: dict[str, float | None] = {"imported": report.imported, "stored": stored}
    figures.update(seconds=elapsed, cpu=cpu, server_cpu=server_cpu)
    print(json.dumps({**figures, "peak_kb": peak_kb, "rows": rows}))


def run(
    scale: float = 1.0, database_url: str | None = None, db_prefix: str | None = None
) -> dict[str, float]:
    """Import ``ROWS * scale`` rows; print and return the rate, peak memory and CPU per row.

    Into SQLite, or into a fresh PostgreSQL database on ``database_url`` when given.
    """
    rows = max(100, int(ROWS * scale))
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        _write_csv(Path(folder) / "people.csv", rows)
        size = (Path(folder) / "people.csv").stat().st_size
        url = ""
        if database_url:
            from bench._stack import DEFAULT_PREFIX
            from tests.scratchdb import fresh_postgres

            prefix = f"{db_prefix or DEFAULT_PREFIX}csv_"
            url = stack.enter_context(fresh_postgres(database_url, prefix))
        code = f"from bench.subscribers_import import child; child({folder!r}, {rows}, {url!r})"
        argv = [sys.executable, "-c", code]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the import process failed:\n{done.stderr[-4000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["imported"] != rows or figures["stored"] != rows:
        raise RuntimeError(
            f"imported {figures['imported']} of {rows} rows ({figures['stored']} stored)"
        )
    rate = rows / figures["seconds"]
    peak_mb = figures["peak_kb"] / 1024
    cpu_us = figures["cpu"] / rows * 1e6
    where = "PostgreSQL" if database_url else "SQLite"
    print(f"subscribers import, {rows:,} rows ({size / 1e6:.1f} MB) on {where}: ", end="")
    print(f"{figures['seconds']:.2f} s")
    print(f"subscribers import rate: {rate:,.0f} rows/s (target >= {TARGET_RATE:,})")
    print(f"subscribers import peak memory: {peak_mb:.0f} MB (target <= {TARGET_PEAK_MB} MB)")
    print(f"subscribers import CPU: {cpu_us:.1f} us per row ({figures['cpu']:.2f} s)")
    if figures.get("server_cpu") is not None:
        server_us = figures["server_cpu"] / rows * 1e6
        print(f"subscribers import server CPU: {server_us:.1f} us per row", end="")
        print(f" ({figures['server_cpu']:.2f} s, the PostgreSQL backend's)")
    return {
        "rows_per_second": rate,
        "seconds": figures["seconds"],
        "peak_mb": peak_mb,
        "cpu_us_per_row": cpu_us,
    }
