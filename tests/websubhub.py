"""A WebSub hub on 127.0.0.1 for tests: it answers each publish ping with the next scripted status.

with running_hub([503, 204]) as hub:   # down once, then accepting
    ... hub.url ..., hub.pings         # every ping's form, hub.url values in order
"""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Hub:
    """What the hub was told, and what it will answer next (204 once the script runs out)."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    pings: list[dict[str, list[str]]] = field(default_factory=list)
    retry_after: str | None = None  # a Retry-After header for each failure, if set
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def answer(self, form: dict[str, list[str]]) -> int:
        """Record one ping; the status to answer it with."""
        with self.lock:
            self.pings.append(form)
            return self.statuses.pop(0) if self.statuses else 204

    def told(self) -> list[str]:
        """Every hub.url value of every accepted or refused ping, in order."""
        return [url for ping in self.pings for url in ping.get("hub.url", [])]


@contextmanager
def running_hub(statuses: Sequence[int] = ()) -> Iterator[Hub]:
    """Run a hub on an ephemeral 127.0.0.1 port until the block ends."""
    hub = Hub(statuses=list(statuses))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            status = hub.answer(form)
            body = b"" if status < 300 else f"status {status}".encode()
            self.send_response(status)
            if status >= 300 and hub.retry_after is not None:
                self.send_header("Retry-After", hub.retry_after)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            """Keep the test output quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hub.url = f"http://127.0.0.1:{server.server_address[1]}/hub"
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
