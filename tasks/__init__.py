"""The Celery app and its thin tasks (ids in, one service call, a retry policy).

``celery -A tasks worker`` and ``celery -A tasks beat`` find the app as ``tasks.app``
(or ``tasks.celery``): it is built on first access from the ``NEWSLETTER_*``
environment, so importing this package reads no settings.
"""

from __future__ import annotations

from typing import Any

from tasks.app import current_celery

# Importing the ``tasks.app`` submodule bound its name here; drop it so that
# ``tasks.app`` resolves through ``__getattr__`` to the Celery instance.
del app  # type: ignore[name-defined]  # noqa: F821


def __getattr__(name: str) -> Any:
    """Build the process-wide Celery app when ``tasks.app`` or ``tasks.celery`` is read."""
    if name in ("app", "celery"):
        return current_celery()
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
