"""The Celery composition root: ``make_celery(settings)`` and the process-wide app.

The broker comes from ``NEWSLETTER_BROKER_URL``. Empty means the embedded default:
Celery's filesystem transport in ``<data dir>/broker`` (no server; one machine), made
to publish each message atomically (``tasks.broker``). Any other URL (``redis://...``,
``amqp://...``) is handed to Celery as is.

No result backend: tasks return nothing anyone waits for. Progress lives in the
database ledger, which the beat tick reads to resume stalled work, so a message
lost by the broker (the filesystem transport never redelivers after a crash) costs
at most one tick of delay, never an edition.

Every message names the database of the deployment that sent it, and a worker of
another database refuses it (``tasks.deployment``): the app is built with the
stamping message factory and the checking task base class.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery import Celery, current_task

from newsletter.settings import Settings, load_settings
from newsletter.web.requests import configure as configure_logging
from tasks.broker import SCHEME
from tasks.deployment import DeploymentTask, StampingAMQP, database_identity

TICK_TASK = "tasks.pipeline.tick"
APPLY_EVENTS_TASK = "tasks.events.apply_events"
APPLY_EVENTS_EVERY_S = 5.0
# Redis redelivers an unacknowledged message after this many seconds; a task may
# run at most ``task_time_limit``, so the timeout must exceed it (see make_celery).
MIN_VISIBILITY_TIMEOUT_S = 3600

_current: Celery | None = None


def broker_folders(settings: Settings) -> dict[str, Path]:
    """The folders of the filesystem broker under the data directory."""
    root = settings.data_dir / "broker"
    return {
        "data_folder_in": root / "queue",
        "data_folder_out": root / "queue",
        "processed_folder": root / "processed",
        "control_folder": root / "control",
    }


def broker_config(settings: Settings) -> tuple[str, dict[str, Any]]:
    """The broker URL and transport options the settings call for."""
    time_limit = settings.task_time_limit.total_seconds()
    if not settings.broker_url or settings.broker_url.startswith(("filesystem://", SCHEME)):
        folders = broker_folders(settings)
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {name: str(path) for name, path in folders.items()}
        options["store_processed"] = False
        return f"{SCHEME}://", options
    visibility = max(MIN_VISIBILITY_TIMEOUT_S, int(time_limit * 2))
    return settings.broker_url, {"visibility_timeout": visibility}


def make_celery(settings: Settings) -> Celery:
    """Build a Celery app for these settings, with the pipeline tasks and the beat tick."""
    url, options = broker_config(settings)
    hard = settings.task_time_limit.total_seconds()
    app = Celery(
        "newsletter",
        broker=url,
        include=["tasks.pipeline", "tasks.events"],
        set_as_current=False,
        task_cls=DeploymentTask,
        amqp=StampingAMQP,
    )
    app.newsletter_database = database_identity(settings.database_url)
    app.conf.update(
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # A message is acknowledged only after its task finished, and given back
        # when the worker dies, so a killed worker's work is picked up again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=hard,
        task_soft_time_limit=max(1.0, hard - 30.0),
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "tick": {"task": TICK_TASK, "schedule": settings.tick_interval.total_seconds()},
            # Webhook posts whose apply request was lost (see tasks.events).
            "apply-events": {"task": APPLY_EVENTS_TASK, "schedule": APPLY_EVENTS_EVERY_S},
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        worker_hijack_root_logger=False,
    )
    app.newsletter_settings = settings
    if settings.log_format == "json":
        # Before Celery sets up logging: it keeps a root logger that has a handler
        # (worker_hijack_root_logger is off), so its lines are JSON too.
        configure_logging("json", WithTask())
    from tasks import pipeline  # noqa: F401  (registers the shared tasks on every app)

    return app


class WithTask(logging.Filter):
    """Puts the running task's id and name on every record (empty outside a task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Never drops a record."""
        task = current_task
        request = getattr(task, "request", None) if task else None
        task_id = str(getattr(request, "id", None) or "")
        record.task_id = task_id
        record.task_name = str(getattr(task, "name", "")) if task_id else ""
        return True


def current_celery() -> Celery:
    """The process-wide app, built on first use from ``NEWSLETTER_*`` variables."""
    global _current
    if _current is None:
        _current = make_celery(load_settings())
        _current.set_current()
        _current.set_default()
    return _current


def set_current_celery(app: Celery | None) -> None:
    """Replace the process-wide app (tests build one per data directory)."""
    global _current
    _current = app
    if app is not None:
        app.set_current()
        app.set_default()
