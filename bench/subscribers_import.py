"""CSV import benchmark: 100k subscribers into a fresh SQLite database.

Target: at least 20,000 rows per second for the whole import (read, validate every
address with email-validator, insert subscribers, subscriptions and consent records
in one transaction). Prints one line per figure.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from newsletter.runtime import Runtime
from newsletter.settings import Settings
from subscribers import csvio, services
from subscribers.models import Subscriber

ROWS = 100_000
TIMEZONES = ("UTC", "Europe/London", "America/New_York", "Asia/Tokyo")


def _write_csv(path: Path, rows: int) -> None:
    lines = ["email,name,topics,timezone,locale"]
    for number in range(rows):
        topics = "Science;Sport" if number % 3 == 0 else ""
        tz = TIMEZONES[number % len(TIMEZONES)]
        lines.append(f"reader{number}@example{number % 97}.org,Reader {number},{topics},{tz},en")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(scale: float = 1.0) -> dict[str, float]:
    """Import ``ROWS * scale`` rows; print and return rows per second and the total time."""
    rows = max(100, int(ROWS * scale))
    with tempfile.TemporaryDirectory() as folder:
        runtime = Runtime(Settings(data_dir=Path(folder)))
        try:
            runtime.ensure_schema()
            from newsletter.publications.models import Publication

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
            path = Path(folder) / "people.csv"
            _write_csv(path, rows)
            started = time.perf_counter()
            with runtime.database.session() as session:
                report = csvio.import_csv(
                    session, path, list_slug="bench", confirmed=True, consent="benchmark"
                )
            elapsed = time.perf_counter() - started
            with runtime.database.session() as session:
                stored = session.query(Subscriber).count()
        finally:
            runtime.close()
    if report.imported != rows or stored != rows:
        raise RuntimeError(f"imported {report.imported} of {rows} rows ({stored} stored)")
    rate = rows / elapsed
    print(f"subscribers import, {rows} rows on SQLite: {elapsed:.2f} s")
    print(f"subscribers import rate: {rate:,.0f} rows/s (target >= 20,000)")
    return {"rows_per_second": rate, "seconds": elapsed}
