"""Run the pipeline's tasks in this process, one message at a time, for unit tests.

The Celery app's ``send_task`` is replaced by a recorder; ``drain`` then runs each
recorded message with ``Task.apply`` (the task's own code, its retries and its
enqueues) until none is left. Integration tests use real worker processes instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from newsletter.runtime import Runtime
from tasks.app import make_celery
from tasks.runtimes import use_runtime


@dataclass
class Message:
    """One enqueued task: its short name, its id argument and its send options."""

    step: str
    args: tuple[Any, ...]
    options: dict[str, Any]


@dataclass
class Inline:
    """A Celery app whose messages stay in a list until ``drain`` runs them."""

    app: Celery
    queue: list[Message] = field(default_factory=list)
    history: list[Message] = field(default_factory=list)

    def send_task(
        self, name: str, args: tuple[Any, ...] = (), kwargs: Any = None, **options: Any
    ) -> None:
        """Stand-in for ``Celery.send_task``: record the message (ids only, no kwargs)."""
        assert not kwargs
        sent = {
            k: v for k, v in options.items() if k in ("countdown", "time_limit", "soft_time_limit")
        }
        message = Message(name.removeprefix("tasks.pipeline."), tuple(args), sent)
        self.queue.append(message)
        self.history.append(message)

    def run(self, step: str, *args: Any) -> Any:
        """Run one task now, as a worker would, and return its result."""
        return self.app.tasks["tasks.pipeline." + step].apply(args=args).get()

    def drain(self, *, drop: Callable[[Message], bool] = lambda _m: False, limit: int = 500) -> int:
        """Run queued messages (dropping those ``drop`` selects) until none is left."""
        done = 0
        while self.queue:
            message = self.queue.pop(0)
            if drop(message):
                continue
            self.run(message.step, *message.args)
            done += 1
            assert done < limit, "the pipeline does not settle"
        return done

    def steps(self) -> list[str]:
        """The short names of every message sent so far."""
        return [m.step for m in self.history]


def inline(runtime: Runtime) -> Inline:
    """An inline app over ``runtime`` (its settings, database and sender)."""
    app = make_celery(runtime.settings)
    app.conf.task_eager_propagates = True
    use_runtime(app, runtime)
    driver = Inline(app)
    app.send_task = driver.send_task
    return driver
