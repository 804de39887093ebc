"""The applier task applies what the webhook stored, and hands a long backlog to a next run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.delivery.inbox import pending_posts, store_post
from newsletter.runtime import Runtime
from newsletter.settings import Settings
from tasks import events as events_task
from tasks.events import APPLY_TASK
from tests.unit.tasks.inline import Inline, inline


@pytest.fixture
def driver(data_dir: Path) -> Iterator[Inline]:
    """An inline Celery app over a fresh SQLite runtime."""
    runtime = Runtime(Settings(data_dir=data_dir))
    runtime.ensure_schema()
    yield inline(runtime)
    runtime.close()


def stored(driver: Inline, kinds: list[str]) -> Runtime:
    """One stored post of events about nobody of ours; the runtime."""
    from tasks.runtimes import runtime_of

    runtime = runtime_of(driver.app)
    body = [
        {"email": "a@example.org", "timestamp": 1, "event": kind, "sg_event_id": f"{kind}-{n}"}
        for n, kind in enumerate(kinds)
    ]
    with runtime.database.session() as session:
        store_post(session, json.dumps(body), len(body))
    return runtime


def test_the_task_applies_every_pending_post(driver: Inline) -> None:
    """One run applies what is pending and sends no further message."""
    runtime = stored(driver, ["open", "click"])
    stored(driver, ["delivered"])
    assert driver.app.tasks[APPLY_TASK].apply().get() == 0  # all three name nobody of ours
    with runtime.database.session() as session:
        assert pending_posts(session) == 0
    assert driver.queue == []


def test_a_spent_time_budget_sends_the_task_again(
    driver: Inline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that used up its time budget asks for another run instead of going on."""
    monkeypatch.setattr(events_task, "TIME_BUDGET_S", 0.0)
    stored(driver, ["open"])
    driver.app.tasks[APPLY_TASK].apply().get()
    assert [m.step for m in driver.queue] == [APPLY_TASK]
