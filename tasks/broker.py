"""The embedded broker: Celery's filesystem transport, with messages that appear whole.

Kombu's filesystem transport writes a message straight into the queue folder under
its final name, while a consumer moves and reads any file with that name without
waiting for the writer: a worker can read half a message and die on the JSON. With
several writers (the web app asks for events to be applied, beat ticks, tasks
enqueue the next step) and a worker reading, that happens. Here each message is
written to a hidden temporary name first and renamed into the queue when complete;
a rename within one folder is atomic, so a consumer sees the whole message or none.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils import json

SCHEME = "newsletterfs"


class Channel(filesystem.Channel):
    """A filesystem channel whose ``_put`` publishes a message atomically."""

    # kombu names this argument "payload" here and "message" in the base class.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Write ``payload`` to a temporary file, then rename it into ``queue``."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # No "." before the queue name: the consumer's filter never matches a partial file.
        temporary = os.path.join(self.data_folder_out, f"~{uuid.uuid4().hex}-partial")
        try:
            with open(temporary, "wb") as handle:
                handle.write(json.dumps(payload).encode())  # type: ignore[no-untyped-call]
            os.replace(temporary, final)
        except OSError as exc:
            with contextlib.suppress(OSError):  # it was never created, or is already gone
                os.unlink(temporary)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    """The filesystem transport with atomic publishing (``newsletterfs://``)."""

    Channel = Channel
    # How often an idle consumer looks at the queue folder (kombu: 1 s). Each step of
    # the pipeline is a message, so every hop waited up to a second: a 300-reader edition
    # took 18 s from due to sent, nearly all of it waiting. A look is one listing of a
    # small folder.
    polling_interval = 0.1


TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
