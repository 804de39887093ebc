"""A batch's short-lived objects set off no collection; the collector runs again after."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from newsletter.delivery import gcpause


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generation of every collection Python starts while the test runs."""
    seen: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    was_enabled = gc.isenabled()
    gc.enable()
    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)
        if not was_enabled:
            gc.disable()


def batch_of_garbage() -> int:
    """Make and drop what a batch makes: many short-lived dicts, held until the end."""
    kept = [{"to": [{"email": f"r{n}@example.org"}], "headers": {}} for n in range(20_000)]
    return len(kept)


def test_short_lived_objects_set_off_no_collection_while_paused(collections: list[int]) -> None:
    """Paused, a batch's objects are never collected; unpaused the same work collects."""
    with gcpause.paused():
        assert not gc.isenabled()
        batch_of_garbage()
    assert collections == []
    assert gc.isenabled()
    batch_of_garbage()
    assert collections  # the same work, unpaused, sets off collections


def test_the_collector_runs_again_only_when_the_last_thread_leaves(
    collections: list[int],
) -> None:
    """Overlapping pauses (threads) keep it off until the last ends; a disabled one stays off."""
    inside, leave = threading.Event(), threading.Event()

    def other_batch() -> None:
        with gcpause.paused():
            inside.set()
            leave.wait(timeout=30)

    other = threading.Thread(target=other_batch)
    other.start()
    assert inside.wait(timeout=30)
    with gcpause.paused():
        pass
    assert not gc.isenabled()  # the other thread is still inside
    leave.set()
    other.join(timeout=30)
    assert gc.isenabled()
    gc.disable()
    try:
        with gcpause.paused():
            pass
        assert not gc.isenabled()  # it was off before the pause: it stays off
    finally:
        gc.enable()


def test_the_collector_runs_again_after_an_error() -> None:
    """A batch that raises still turns the collector back on."""
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gcpause.paused():
        raise RuntimeError("provider down")
    assert gc.isenabled()
