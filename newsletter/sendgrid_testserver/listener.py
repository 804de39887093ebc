"""The SendGrid test server's socket: bind, serve in a thread, stop listening for a while.

``refuse`` closes the listening socket, so new connections get ECONNREFUSED as from
a provider that is down, then binds the same port again when the period ends
(``SO_REUSEADDR`` lets it do so at once). Connections made before the outage are cut
by the handler (``SendGridTestServer.refusing``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from newsletter.sendgrid_testserver.http import Handler, HTTPServer
from newsletter.sendgrid_testserver.owner import Owner


class Listener:
    """Owns the HTTP server and the background threads of one ``SendGridTestServer``."""

    def __init__(self, owner: Owner, closing: threading.Event) -> None:
        self._owner = owner
        self._closing = closing  # set when the owner stops
        self._lock = threading.Lock()
        self._httpd: HTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._refuse_until = 0.0
        self.address: tuple[str, int] | None = None

    def start(self, host: str, port: int) -> None:
        """Bind ``host:port`` (0: any free port) and serve in a background thread."""
        self._listen((host, port))
        assert self._httpd is not None
        bound_host, bound_port = self._httpd.server_address[:2]
        self.address = (str(bound_host), int(bound_port))

    def stop(self) -> None:
        """Stop serving, free the port, and join every thread started by ``spawn``."""
        with self._lock:
            self._unlisten()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self.address = None

    def spawn(self, target: Callable[[], None], name: str) -> None:
        """Run ``target`` in a daemon thread that ``stop`` joins."""
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    @property
    def refusing(self) -> bool:
        """Whether an outage started by ``refuse`` is under way."""
        return time.monotonic() < self._refuse_until

    def refuse(self, for_seconds: float) -> bool:
        """Stop listening for ``for_seconds`` (extending an outage under way); False if extended."""
        if self.address is None:
            raise RuntimeError("the server is not running; start it before refusing connections")
        if not 0 < for_seconds <= 86_400:
            raise ValueError(f"for_seconds must be between 0 and 86400, got {for_seconds}")
        with self._lock:
            was_refusing = self.refusing
            self._refuse_until = max(self._refuse_until, time.monotonic() + for_seconds)
            if was_refusing:
                return False
            self._unlisten()
        self.spawn(self._listen_again, "sendgrid-test-server-outage")
        return True

    def wait_listening(self, timeout: float) -> bool:
        """Block until the socket listens again after an outage; False on timeout or stop."""
        deadline = time.monotonic() + timeout
        while self._httpd is None and not self._closing.is_set():
            if time.monotonic() >= deadline:
                return False
            self._closing.wait(0.01)
        return self._httpd is not None

    def _listen(self, address: tuple[str, int]) -> None:
        httpd = HTTPServer(address, Handler)
        httpd.owner = self._owner
        self._httpd = httpd
        # poll_interval: how long ``stop`` may wait; tests stop servers often.
        self.spawn(lambda: httpd.serve_forever(poll_interval=0.05), "sendgrid-test-server")

    def _unlisten(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def _listen_again(self) -> None:
        while not self._closing.is_set():
            remaining = self._refuse_until - time.monotonic()
            if remaining <= 0:
                break
            self._closing.wait(remaining)
        with self._lock:
            if self._closing.is_set() or self.address is None:
                return
            self._listen(self.address)
        self._owner._note("listening again")
