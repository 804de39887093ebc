"""A SendGrid-compatible Mail Send server on 127.0.0.1, for tests, benchmarks and staging.

It speaks real HTTP, so the real ``SendGridSender`` (and the ``sendgrid`` package
under it) is exercised end to end: point ``NEWSLETTER_SENDGRID_API_HOST`` at
``server.url``. Each ``POST /v3/mail/send`` is checked the way SendGrid documents
(see ``testserver_checks``), recorded in ``accepted`` or ``rejected``, and answered
``202`` with an ``X-Message-Id``. Faults can be injected (``inject``) or drawn at
random (``fault_rate`` with a ``seed``), and events for accepted mail can be posted,
signed, to a webhook (``post_events`` once, ``queue_events`` with SendGrid's retries;
with ``webhook_url`` set, automatically after each acceptance, from background
threads). ``docs/sendgrid-test-server.md`` shows how.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.delivery import testserver_events as events_mod
from newsletter.delivery.testserver_checks import MAX_BODY_BYTES, api_error, check_mail_send
from newsletter.delivery.testserver_events import EventPoster, PostResult, PostStats

MAIL_SEND_PATH = "/v3/mail/send"


class FaultKind(StrEnum):
    """What an injected fault does to one mail-send request."""

    RATE_LIMIT = "rate_limit"  # 429 with X-RateLimit-Reset
    SERVER_ERROR = "server_error"  # 500
    SLOW = "slow"  # answer normally, but only after a delay
    DROP_BEFORE_ACCEPT = "drop_before_accept"  # close the connection, nothing recorded
    DROP_AFTER_ACCEPT = "drop_after_accept"  # record as accepted, then close without answering


@dataclass(frozen=True)
class Fault:
    """One fault; use the class attributes, or ``Fault.SLOW(seconds)``."""

    kind: FaultKind
    delay: float = 0.0

    RATE_LIMIT: ClassVar[Fault]
    SERVER_ERROR: ClassVar[Fault]
    DROP_BEFORE_ACCEPT: ClassVar[Fault]
    DROP_AFTER_ACCEPT: ClassVar[Fault]

    @staticmethod
    def SLOW(delay: float) -> Fault:
        """Answer only after ``delay`` seconds."""
        return Fault(FaultKind.SLOW, delay)


Fault.RATE_LIMIT = Fault(FaultKind.RATE_LIMIT)
Fault.SERVER_ERROR = Fault(FaultKind.SERVER_ERROR)
Fault.DROP_BEFORE_ACCEPT = Fault(FaultKind.DROP_BEFORE_ACCEPT)
Fault.DROP_AFTER_ACCEPT = Fault(FaultKind.DROP_AFTER_ACCEPT)
_RANDOM_FAULTS = (Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.DROP_AFTER_ACCEPT)


@dataclass(frozen=True)
class AcceptedRequest:
    """A mail-send request the server accepted."""

    message_id: str
    payload: dict[str, Any]
    received_at: float

    @property
    def recipients(self) -> list[str]:
        """Every ``to`` address, in order."""
        return [
            str(to["email"]) for p in self.payload["personalizations"] for to in p.get("to", [])
        ]


@dataclass(frozen=True)
class RejectedRequest:
    """A request the server refused, with SendGrid-style errors."""

    status: int
    errors: list[dict[str, Any]]
    payload: Any = None


@dataclass
class _Planned:
    fault: Fault
    remaining: int
    reset_in: float | None


@dataclass
class SendGridTestServer:
    """The server; use it as a context manager (or ``start`` / ``stop``)."""

    host: str = "127.0.0.1"
    port: int = 0
    api_key: str = "SG.test-key"
    signing_key: ec.EllipticCurvePrivateKey | None = None
    invalid_addresses: Collection[str] = ()
    fault_rate: float = 0.0
    seed: int | None = None
    # Seconds every request waits before it is handled, as a trip over the internet to
    # the real API would add (the benchmark compares batching and a naive loop with it).
    latency: float = 0.0
    webhook_url: str = ""  # when set, events in ``auto_events`` are posted for each acceptance
    auto_events: tuple[str, ...] = ("processed", "delivered")
    log: Callable[[str], None] | None = None
    # How long a failed event post is retried (SendGrid: 24 hours) and how many posts run at once.
    event_retry_for: float = 30.0
    event_workers: int = 4
    accepted: list[AcceptedRequest] = field(default_factory=list, init=False)
    rejected: list[RejectedRequest] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, got {self.fault_rate}")
        if not 0.0 <= self.latency <= 60.0:
            raise ValueError(f"latency must be between 0 and 60 seconds, got {self.latency}")
        self.key = self.signing_key or events_mod.generate_signing_key()
        self.public_key = events_mod.public_key_b64(self.key)
        self._invalid = frozenset(a.lower() for a in self.invalid_addresses)
        self._plan: deque[_Planned] = deque()
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._poster = EventPoster(
            self.key, retry_for=self.event_retry_for, workers=self.event_workers, log=self._note
        )
        self._closing = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to use as ``NEWSLETTER_SENDGRID_API_HOST``."""
        if self._httpd is None:
            raise RuntimeError("the server is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SendGridTestServer:
        """Bind and serve in a background thread."""
        self._httpd = _HTTPServer((self.host, self.port), _Handler)
        self._httpd.owner = self
        self._closing.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long ``stop`` may wait; tests stop servers often
            name="sendgrid-test-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (delayed answers are cut short).

        Pending event posts are finished first (delivered, or given up after
        ``event_retry_for``), so a caller that saw a 202 can rely on the webhook having
        been called once the server has stopped.
        """
        self._poster.close(timeout=self.event_retry_for + self._poster.attempt_timeout + 1)
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> SendGridTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def inject(self, fault: Fault, *, count: int = 1, reset_in: float | None = None) -> None:
        """Apply ``fault`` to the next ``count`` mail-send requests (after earlier plans)."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self._lock:
            self._plan.append(_Planned(fault, count, reset_in))

    def events(
        self, kind: str = "delivered", *, addresses: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """``kind`` events for every accepted recipient (or only ``addresses``)."""
        with self._lock:
            accepted = list(self.accepted)
        return [
            event
            for request in accepted
            for event in events_mod.events_for(
                request.message_id, request.payload, kind, addresses=addresses
            )
        ]

    def post_events(
        self,
        webhook_url: str,
        events: Iterable[Mapping[str, Any]],
        *,
        timestamp: int | None = None,
    ) -> PostResult:
        """POST ``events`` to ``webhook_url``, signed with this server's key."""
        return events_mod.post_events(webhook_url, events, key=self.key, timestamp=timestamp)

    def queue_events(self, webhook_url: str, events: Iterable[Mapping[str, Any]]) -> None:
        """Post ``events`` in the background, retried as SendGrid retries them."""
        events = list(events)
        self._poster.submit(webhook_url, events, f"{len(events)} event(s)")

    def wait_for_events(self, timeout: float | None = None) -> bool:
        """Block until every queued event post is delivered or given up; False on timeout."""
        return self._poster.wait(timeout)

    @property
    def event_stats(self) -> PostStats:
        """Event posts queued, attempts made and failed, posts delivered, given up, pending."""
        return self._poster.stats

    def _next_fault(self) -> tuple[Fault | None, float | None]:
        with self._lock:
            if self._plan:
                planned = self._plan[0]
                planned.remaining -= 1
                if planned.remaining == 0:
                    self._plan.popleft()
                return planned.fault, planned.reset_in
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(_RANDOM_FAULTS), 1.0
        return None, None

    def _record(self, item: AcceptedRequest | RejectedRequest) -> None:
        with self._lock:
            if isinstance(item, AcceptedRequest):
                self.accepted.append(item)
            else:
                self.rejected.append(item)
        self._note(_describe(item))

    def _note(self, line: str) -> None:
        # Looked up per line: callers may set ``log`` after the server is built.
        if self.log is not None:
            self.log(line)

    def _queue_auto_events(self, request: AcceptedRequest) -> None:
        for kind in self.auto_events:
            events = events_mod.events_for(request.message_id, request.payload, kind)
            self._poster.submit(self.webhook_url, events, f"{len(events)} {kind} event(s)")


def _describe(item: AcceptedRequest | RejectedRequest) -> str:
    if isinstance(item, AcceptedRequest):
        return f"202 accepted {len(item.recipients)} recipient(s) as {item.message_id}"
    first = item.errors[0] if item.errors else {}
    return f"{item.status} rejected: {first.get('message', '')} (field {first.get('field')})"


def _content_length(value: str | None) -> int:
    """The declared body length, 0 when absent, -1 when unreadable."""
    if value is None:
        return 0
    try:
        length = int(value)
    except ValueError:
        return -1
    return length if length >= 0 else -1


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: SendGridTestServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and left makes writing its answer fail; that is expected.
        return


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; the owner's ``log`` reports what matters."""

    def do_POST(self) -> None:
        """Handle ``POST /v3/mail/send`` like SendGrid; anything else is 404."""
        owner = self.server.owner
        if self.path.split("?")[0] != MAIL_SEND_PATH:
            self._drain()
            self._answer(404, [api_error("Not found: only POST /v3/mail/send is served.")])
            return
        if owner.latency and owner._closing.wait(owner.latency):
            self._drop()  # the server is stopping: this request never arrived
            return
        length = _content_length(self.headers.get("Content-Length"))
        if length < 0:
            self.close_connection = True  # the body's end is unknown, so the stream is unusable
            self._refuse(411, [api_error("A valid Content-Length header is required.")])
            return
        if length >= MAX_BODY_BYTES:
            self._drain()  # read it all, so the client sees our answer rather than a reset
            self._refuse(413, [api_error("The request is too large: it must be under 30 MB.")])
            return
        raw = self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        if not auth:
            self._refuse(401, [api_error("authorization required")])
            return
        if not secrets.compare_digest(auth.encode(), f"Bearer {owner.api_key}".encode()):
            self._refuse(
                401, [api_error("The provided authorization grant is invalid, expired, or revoked")]
            )
            return
        media_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            self._refuse(415, [api_error("Content-Type should be application/json.")])
            return
        try:
            payload = json.loads(raw)
        except ValueError:
            self._refuse(400, [api_error("Bad Request: the body is not valid JSON.")])
            return
        fault, reset_in = owner._next_fault()
        if fault is not None and self._apply(fault, reset_in):
            return
        errors = check_mail_send(payload, invalid=owner._invalid)
        if errors:
            self._refuse(400, errors, payload)
            return
        accepted = AcceptedRequest(secrets.token_urlsafe(16), payload, time.time())
        owner._record(accepted)
        if owner.webhook_url:
            # Queued before answering, so a client that stops the server right after the
            # 202 still gets them; accepted is accepted, even if the answer is dropped.
            owner._queue_auto_events(accepted)
        if fault is not None and fault.kind is FaultKind.DROP_AFTER_ACCEPT:
            self._drop()
        else:
            self._answer(202, None, {"X-Message-Id": accepted.message_id})

    def _apply(self, fault: Fault, reset_in: float | None) -> bool:
        """Act out ``fault``; True when the request is finished."""
        owner = self.server.owner
        if fault.kind is FaultKind.SLOW:
            # Cut short when the server stops; a request still waiting then is never accepted.
            if owner._closing.wait(fault.delay):
                self._drop()
                return True
        elif fault.kind is FaultKind.DROP_BEFORE_ACCEPT:
            self._drop()
            return True
        elif fault.kind is FaultKind.SERVER_ERROR:
            self._refuse(500, [api_error("Internal server error (injected fault).")])
            return True
        elif fault.kind is FaultKind.RATE_LIMIT:
            headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"}
            if reset_in is not None:
                headers["X-RateLimit-Reset"] = str(math.ceil(time.time() + reset_in))
            self._refuse(429, [api_error("too many requests")], headers=headers)
            return True
        return False

    def _refuse(
        self,
        status: int,
        errors: list[dict[str, Any]],
        payload: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.server.owner._record(RejectedRequest(status, errors, payload))
        self._answer(status, errors, headers or {})

    def _answer(
        self,
        status: int,
        errors: list[dict[str, Any]] | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = json.dumps({"errors": errors}).encode() if errors is not None else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drain(self) -> None:
        remaining = _content_length(self.headers.get("Content-Length"))
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)

    def _drop(self) -> None:
        """Close the connection without a byte of answer, as a crashed front end would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            return
