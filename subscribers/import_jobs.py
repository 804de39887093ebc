"""CSV imports started in the back office: one row per upload, with progress and the report.

The import itself is ``csvio.import_csv`` in one transaction of its own; the job row
is written in short transactions beside it (progress every half second), so any web
process can show how far it got. A job still ``running`` whose row has not moved for
``STALE_AFTER`` lost its process: its import transaction never committed, so nothing
was imported, and the page says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.db import Base, UTCDateTime, enum_column, utcnow
from newsletter.errors import NotFoundError
from subscribers.csvio import ImportReport

STALE_AFTER = timedelta(minutes=2)


class JobState(StrEnum):
    """Where an import stands."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportJob(Base):
    """One CSV upload into a list and what became of it."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_slug: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200))
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(120))
    state: Mapped[JobState] = mapped_column(
        enum_column(JobState, "import_job_state"), default=JobState.RUNNING
    )
    bytes_total: Mapped[int] = mapped_column(Integer, default=0)
    bytes_done: Mapped[int] = mapped_column(Integer, default=0)
    # The ImportReport's counts and its first refused rows ([row, email, reason] each).
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


def start_job(
    session: Session, list_slug: str, filename: str, *, confirmed: bool, actor: str, size: int
) -> ImportJob:
    """A new running job for an upload of ``size`` bytes."""
    job = ImportJob(
        list_slug=list_slug,
        filename=filename[:200],
        confirmed=confirmed,
        actor=actor[:120],
        bytes_total=size,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int) -> ImportJob:
    """The job with ``job_id``, or ``NotFoundError``."""
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFoundError(f"import {job_id}: no such import")
    return job


def record_progress(session: Session, job_id: int, done: int) -> None:
    """Bytes of the file read so far (the row also proves the process is alive)."""
    job = get_job(session, job_id)
    job.bytes_done = done
    job.updated_at = utcnow()


def finish(session: Session, job_id: int, report: ImportReport) -> None:
    """The import committed: keep its report."""
    job = get_job(session, job_id)
    job.state = JobState.DONE
    job.bytes_done = job.bytes_total
    job.report = {
        "rows": report.rows,
        "imported": report.imported,
        "new_subscribers": report.new_subscribers,
        "confirmed_pending": report.confirmed_pending,
        "refused": report.refused,
        "counts": report.counts(),
        "problems": [[p.row, p.email, p.reason] for p in report.problems],
    }
    job.updated_at = job.finished_at = utcnow()


def fail(session: Session, job_id: int, error: str) -> None:
    """The import stopped and rolled back: nothing of it was written."""
    job = get_job(session, job_id)
    job.state = JobState.FAILED
    job.error = error[:2000]
    job.updated_at = job.finished_at = utcnow()


def interrupted(job: ImportJob, now: datetime | None = None) -> bool:
    """Whether a running job's process is gone (its row stopped moving)."""
    now = now or utcnow()
    return job.state is JobState.RUNNING and now - job.updated_at > STALE_AFTER
