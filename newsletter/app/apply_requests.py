"""How the web app asks a worker to apply the webhook's stored posts: a Celery message.

The webhook view (``newsletter.delivery.views``) sits below the task queue, so the
factory hands it ``request_apply`` on ``app.state`` instead of the view importing
``tasks``.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING

from kombu.exceptions import KombuError

from newsletter.db import Database
from newsletter.runtime import Runtime

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

_apps: weakref.WeakKeyDictionary[Database, Celery] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def celery_for(runtime: Runtime) -> Celery:
    """The Celery app this process sends its apply requests through (built once)."""
    from tasks.app import make_celery

    with _lock:
        app = _apps.get(runtime.database)
        if app is None:
            app = _apps[runtime.database] = make_celery(runtime.settings)
        return app


def request_apply(runtime: Runtime) -> None:
    """Ask a worker to apply the pending posts (the periodic beat entry covers a failure)."""
    from tasks.events import APPLY_TASK

    try:
        # No result is kept: nothing waits for it, and the backend would be set up per thread.
        celery_for(runtime).send_task(APPLY_TASK, retry=False, ignore_result=True)
    except (KombuError, OSError) as exc:
        log.warning("could not ask a worker to apply webhook events (beat will): %s", exc)


def request_plan(runtime: Runtime, digest_id: int) -> bool:
    """Ask a worker to plan (then send) a started alert now; whether the message went.

    Without a broker the beat's tick plans it once ``stall_after`` passed (a started
    edition's published digest is a stalled step), so a failure delays, never loses.
    """
    from tasks.pipeline import PREFIX

    try:
        celery_for(runtime).send_task(
            PREFIX + "plan", args=(digest_id,), retry=False, ignore_result=True
        )
    except (KombuError, OSError) as exc:
        log.warning("could not ask a worker to plan digest %d (the tick will): %s", digest_id, exc)
        return False
    return True
