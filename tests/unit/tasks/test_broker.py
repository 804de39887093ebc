"""The embedded broker publishes each message whole: a consumer never reads half of one."""

from __future__ import annotations

import threading
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection
from kombu.exceptions import ChannelError

from tasks.broker import SCHEME, Channel


def _connection(folder: Path) -> Connection:
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
    }
    return Connection(f"{SCHEME}://", transport_options=options)


def test_messages_published_while_a_consumer_reads_arrive_whole(tmp_path: Path) -> None:
    """Large messages written by one thread while another consumes are never read half-written."""
    payload = {"body": "x" * 400_000}
    count = 60
    received: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def consume() -> None:
        with _connection(tmp_path) as connection:
            channel = connection.default_channel
            while len(received) < count and not done.is_set():
                try:
                    received.append(channel._get("q"))
                except Empty:
                    continue
                except BaseException as exc:  # a half-written file shows up as a JSON error
                    errors.append(exc)
                    return

    reader = threading.Thread(target=consume)
    reader.start()
    with _connection(tmp_path) as connection:
        channel = connection.default_channel
        for _ in range(count):
            channel._put("q", payload)
    reader.join(timeout=60)
    done.set()
    assert errors == []
    assert len(received) == count
    assert all(message == payload for message in received)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("-partial")]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    """A message that cannot be written raises ChannelError and leaves no partial file."""
    with _connection(tmp_path) as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        channel.data_folder_out = str(tmp_path / "missing")
        with pytest.raises(ChannelError, match="Cannot add file"):
            channel._put("q", {"a": 1})
    assert [p.name for p in tmp_path.iterdir()] == []
