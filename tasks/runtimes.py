"""The runtime each Celery app's tasks use, one per app and process (tasks import this).

Kept apart from ``tasks.app``, which imports the task modules to register them, so
that the tasks need not import the module that imports them.
"""

from __future__ import annotations

from celery import Celery

from newsletter.runtime import Runtime

_runtimes: dict[int, Runtime] = {}


def runtime_of(app: Celery) -> Runtime:
    """The runtime a task of ``app`` uses, built in the worker process on first use.

    Built lazily so that a prefork worker's children each open their own database
    connections after the fork, never sharing the parent's.
    """
    runtime = _runtimes.get(id(app))
    if runtime is None:
        # No migrations here: several worker processes would race to apply them.
        # ``newsletter worker`` / ``newsletter run`` (or ``newsletter db upgrade``) do.
        runtime = Runtime(app.newsletter_settings)
        _runtimes[id(app)] = runtime
    return runtime


def use_runtime(app: Celery, runtime: Runtime) -> None:
    """Make ``app``'s tasks use an existing runtime (tests and single-process runs)."""
    _runtimes[id(app)] = runtime
