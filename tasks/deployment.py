"""No cross-talk: every task message names its database, and a worker of another refuses it.

Two deployments that share a broker queue (a forgotten worker of the last release,
staging pointed at production's Redis) would otherwise run each other's messages on
their own rows: an ``assemble`` of edition 7 in database X becomes an assemble of
whatever edition 7 is in database Y. So every message published by an app from
``make_celery`` carries two headers (``StampingAMQP``):

* ``newsletter_db``: a fingerprint of the database (sha256 of its normalised URL,
  without user or password, shortened): the identity that is compared;
* ``newsletter_db_hint``: the same URL in readable form, for the log.

``DeploymentTask`` (the base of every task) compares the header with its own database
before the task body runs. A mismatch is logged as an ERROR naming both databases and
the message is **dropped**, not requeued: a requeued message goes back to the same
shared queue, where the wrong worker may take it again at once (a hot loop, endless
while the right deployment has no worker up), and nothing depends on it anyway. The
database ledger is the truth: the right deployment's beat tick finds the step that
did not progress and enqueues it again after ``NEWSLETTER_STALL_AFTER``, so the cost
is a delay for that deployment, and the log says why. A message without the header
(published by a version before this check, during a rolling upgrade) runs, with a
WARNING.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Task
from celery.app.amqp import AMQP
from celery.exceptions import Reject
from celery.utils.log import get_task_logger
from sqlalchemy.engine import make_url

from newsletter.db import normalise_url

HEADER = "newsletter_db"
HINT_HEADER = "newsletter_db_hint"
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
log = get_task_logger(__name__)


@dataclass(frozen=True)
class DatabaseIdentity:
    """Which database a deployment uses: a fingerprint to compare and a hint to read."""

    fingerprint: str
    hint: str


def database_identity(url: str) -> DatabaseIdentity:
    """The identity of the database at ``url``; the driver, user, password and options do not count.

    ``postgresql://u:p@Host/db``, ``postgresql+psycopg://other@host:5432/db`` name the
    same database; a SQLite file is named by its absolute path. Every process of a
    deployment must spell the host the same way (``localhost`` is not ``127.0.0.1``).
    """
    parsed = make_url(normalise_url(url))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        name = parsed.database or ""
        path = name if name in ("", ":memory:") else str(Path(name).resolve())
        hint = f"sqlite:///{path}"
    else:
        host = (parsed.host or "").lower()
        port = parsed.port or DEFAULT_PORTS.get(backend) or ""
        hint = f"{backend}://{host}:{port}/{parsed.database or ''}"
    fingerprint = hashlib.sha256(hint.encode()).hexdigest()[:16]
    return DatabaseIdentity(fingerprint, hint)


def identity_of(app: Any) -> DatabaseIdentity | None:
    """The database identity ``make_celery`` gave ``app`` (None for any other app)."""
    identity = getattr(app, "newsletter_database", None)
    return identity if isinstance(identity, DatabaseIdentity) else None


class StampingAMQP(AMQP):  # type: ignore[misc]  # celery ships no type information
    """Celery's message factory, adding the database headers to every task message."""

    def as_task_v2(self, *args: Any, **kwargs: Any) -> Any:
        """Build the message as Celery does, then stamp it with this app's database."""
        message = super().as_task_v2(*args, **kwargs)
        identity = identity_of(self.app)
        if identity is not None:
            message.headers[HEADER] = identity.fingerprint
            message.headers[HINT_HEADER] = identity.hint
        return message


def check_message(app: Any, request: Any, task_name: str) -> None:
    """Raise ``Reject`` (drop, no requeue) if the message in ``request`` is for another database."""
    mine = identity_of(app)
    if mine is None:
        return
    theirs = getattr(request, HEADER, None)
    if theirs is None:
        log.warning(
            "%s: message has no %s header (sent by an older version?); running it on %s",
            task_name,
            HEADER,
            mine.hint,
        )
        return
    if theirs != mine.fingerprint:
        hint = getattr(request, HINT_HEADER, None) or "?"
        log.error(
            "REFUSED %s: the message is for database %s (%s) but this worker uses %s (%s); "
            "dropped without running. Two deployments share one broker queue: stop the "
            "stray worker or give each deployment its own NEWSLETTER_BROKER_URL.",
            task_name,
            hint,
            theirs,
            mine.hint,
            mine.fingerprint,
        )
        raise Reject(f"message for database {hint}, worker on {mine.hint}", requeue=False)


class DeploymentTask(Task):  # type: ignore[misc]  # celery ships no type information
    """Base class of every task of ``make_celery``'s apps: checks the message's database first."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Refuse a worker's message for another database; run anything else as usual."""
        request = self.request
        if not request.called_directly and not request.is_eager:
            check_message(self.app, request, self.name)
        return super().__call__(*args, **kwargs)
