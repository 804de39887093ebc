"""A SendGrid-compatible server on 127.0.0.1, for tests, benchmarks and staging.

It speaks real HTTP, so the real ``SendGridSender`` (and the ``sendgrid`` package
under it) is exercised end to end: point ``NEWSLETTER_SENDGRID_API_HOST`` at
``server.url``. It serves Mail Send (with ``send_at`` and ``batch_id``), batch ids and
the Cancel Scheduled Sends API, checked and answered as SendGrid documents them
(``http``, ``checks``, ``schedule``). Mail is held
until its ``send_at`` by the server's clock (``clock``, ``advance``), then released,
kept (paused batch) or discarded (cancelled batch); only released mail counts as
delivered (``delivered_recipients``) and gets automatic events. Faults can be
planned (``inject``), held for a period (``fault_for``, ``rate_limit``,
``refuse_connections``) or drawn at random (``fault_rate`` with a ``seed``); events
can be late (``event_delay``) or lost (``event_drop_rate``).
``docs/sendgrid-test-server.md`` shows how.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Unpack

from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.sendgrid_testserver import events as events_mod
from newsletter.sendgrid_testserver.checks import (
    ApiError,
    check_mail_send,
    check_schedule,
    due_times,
)
from newsletter.sendgrid_testserver.events import EventPoster, PostResult, PostStats
from newsletter.sendgrid_testserver.faults import (
    DEFAULT_RANDOM_FAULTS,
    Endpoint,
    Fault,
    FaultKind,
    FaultPlan,
    Injection,
)
from newsletter.sendgrid_testserver.http import MAIL_SEND_PATH
from newsletter.sendgrid_testserver.listener import Listener
from newsletter.sendgrid_testserver.owner import RejectedRequest
from newsletter.sendgrid_testserver.schedule import AcceptedRequest, MessageStatus, Schedule

__all__ = [
    "MAIL_SEND_PATH",
    "AcceptedRequest",
    "Endpoint",
    "Fault",
    "FaultKind",
    "MessageStatus",
    "RejectedRequest",
    "SendGridTestServer",
]

RELEASE_POLL = 0.25  # seconds between looks at the clock when nothing is known to be due


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
    # What random faults (``fault_rate``) are drawn from.
    random_faults: tuple[Fault, ...] = DEFAULT_RANDOM_FAULTS
    # Seconds every request waits before it is handled, as a trip over the internet to
    # the real API would add (the benchmark compares batching and a naive loop with it).
    latency: float = 0.0
    webhook_url: str = ""  # when set, events in ``auto_events`` are posted for released mail
    auto_events: tuple[str, ...] = ("processed", "delivered")
    log: Callable[[str], None] | None = None
    # How long a failed event post is retried (SendGrid: 24 hours) and how many posts run at once.
    event_retry_for: float = 30.0
    event_workers: int = 4
    # Event faults: each automatic post waits ``event_delay`` s; a share is never posted.
    event_delay: float = 0.0
    event_drop_rate: float = 0.0
    # The wall clock the schedule is judged by (unix seconds); ``advance`` adds to it.
    clock: Callable[[], float] = time.time
    accepted: list[AcceptedRequest] = field(default_factory=list, init=False)
    rejected: list[RejectedRequest] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.latency <= 60.0:
            raise ValueError(f"latency must be between 0 and 60 seconds, got {self.latency}")
        self.set_event_faults(delay=self.event_delay, drop_rate=self.event_drop_rate)
        self.key = self.signing_key or events_mod.generate_signing_key()
        self.public_key = events_mod.public_key_b64(self.key)
        self._invalid = frozenset(a.lower() for a in self.invalid_addresses)
        self._faults = FaultPlan(
            rate=self.fault_rate, seed=self.seed, random_faults=self.random_faults
        )
        self._event_rng = random.Random(f"{self.seed}-events")
        self._offset = 0.0
        self._schedule = Schedule(self.now)
        self._lock = threading.Lock()
        self._poster = EventPoster(
            self.key, retry_for=self.event_retry_for, workers=self.event_workers, log=self._note
        )
        self.events_dropped = 0  # automatic event posts dropped by ``event_drop_rate``
        self._closing = threading.Event()  # set by ``stop``: cuts delayed answers short
        self._wake = threading.Event()
        self._listener = Listener(self, self._closing)

    # Lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL to use as ``NEWSLETTER_SENDGRID_API_HOST``."""
        if self._listener.address is None:
            raise RuntimeError("the server is not running; use it as a context manager")
        host, port = self._listener.address
        return f"http://{host}:{port}"

    def start(self) -> SendGridTestServer:
        """Bind and serve in a background thread; held mail is released by another."""
        self._closing.clear()
        self._listener.start(self.host, self.port)
        self._listener.spawn(self._release_loop, "sendgrid-test-server-release")
        return self

    def stop(self) -> None:
        """Stop serving and release the port (delayed answers are cut short).

        Pending event posts are finished first (delivered, or given up after
        ``event_retry_for``), so a caller that saw a 202 for immediate mail can rely on
        the webhook having been called once the server has stopped. Posts still held
        back by ``event_delay`` are dropped.
        """
        self._poster.close(timeout=self.event_retry_for + self._poster.attempt_timeout + 1)
        self._closing.set()
        self._wake.set()
        self._listener.stop()

    def __enter__(self) -> SendGridTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Clock and release -----------------------------------------------------------

    def now(self) -> float:
        """The server's clock: ``clock()`` plus every ``advance`` so far (unix seconds)."""
        return self.clock() + self._offset

    @property
    def clock_offset(self) -> float:
        """Seconds ``advance`` has added to ``clock()``."""
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move the server's clock forward, release what is due by then; the new ``now()``."""
        if not 0 <= seconds <= 30 * 86_400:
            raise ValueError(f"advance: seconds must be between 0 and 30 days, got {seconds}")
        with self._lock:
            self._offset += seconds
        self.release_due()
        return self.now()

    def release_due(self) -> int:
        """Settle every message due by ``now()`` (also done in the background); releases made."""
        released = self._schedule.release_due()
        for request, indexes in released:
            self._post_auto_events(request, indexes)
        return sum(len(indexes) for _, indexes in released)

    def _release_loop(self) -> None:
        while not self._closing.is_set():
            self.release_due()
            due = self._schedule.next_due()
            wait = RELEASE_POLL if due is None else min(RELEASE_POLL, due - self.now())
            self._wake.wait(max(0.001, wait))
            self._wake.clear()

    def _wake_release(self) -> None:
        self.release_due()
        self._wake.set()

    # What was sent ---------------------------------------------------------------

    def delivered_recipients(self) -> Counter[str]:
        """Per ``to`` address, how many messages were released (sent); duplicates show as > 1."""
        return self._schedule.counts(MessageStatus.RELEASED)

    def discarded_recipients(self) -> Counter[str]:
        """Per ``to`` address, messages discarded (cancelled batch, or a pause that expired)."""
        return self._schedule.counts(MessageStatus.DISCARDED)

    def held_count(self) -> int:
        """Messages (personalizations) accepted but neither released nor discarded yet."""
        return self._schedule.held_count()

    def batch_statuses(self) -> dict[str, str]:
        """Batch ids carrying a ``cancel`` or ``pause`` status, with it."""
        return self._schedule.statuses()

    def batch_send_at(self, batch_id: str) -> float | None:
        """A batch's send_at (earliest due time of its messages), None if it has none."""
        return self._schedule.send_at(batch_id)

    def create_batch(self) -> str:
        """A new batch id, as ``POST /v3/mail/batch`` makes (for tests that skip HTTP)."""
        return self._schedule.create_batch()

    # Faults ----------------------------------------------------------------------

    def inject(self, fault: Fault, **how: Unpack[Injection]) -> None:
        """Apply ``fault`` to the next ``count`` requests to ``on`` (after earlier plans)."""
        self._faults.inject(fault, **how)

    def fault_for(self, fault: Fault, for_seconds: float, *, on: Endpoint = Endpoint.ANY) -> None:
        """Apply ``fault`` to every request to ``on`` for the next ``for_seconds`` seconds."""
        self._faults.during(fault, for_seconds, on=on)

    def rate_limit(self, for_seconds: float, *, on: Endpoint = Endpoint.ANY) -> None:
        """Answer 429 for ``for_seconds``, ``X-RateLimit-Reset`` naming the period's end."""
        self.fault_for(Fault.RATE_LIMIT, for_seconds, on=on)

    def clear_faults(self) -> None:
        """Forget planned faults and fault periods (not random faults nor refusals)."""
        self._faults.clear()

    def set_event_faults(self, *, delay: float = 0.0, drop_rate: float = 0.0) -> None:
        """From now on, post each automatic event post ``delay`` s late; drop ``drop_rate``."""
        if not 0.0 <= delay <= 86_400:
            raise ValueError(f"event_delay must be between 0 and 86400 seconds, got {delay}")
        if not 0.0 <= drop_rate <= 1.0:
            raise ValueError(f"event_drop_rate must be between 0 and 1, got {drop_rate}")
        self.event_delay, self.event_drop_rate = delay, drop_rate

    @property
    def refusing(self) -> bool:
        """Whether the server is refusing connections (``refuse_connections``)."""
        return self._listener.refusing

    def refuse_connections(self, for_seconds: float) -> None:
        """Stop listening for ``for_seconds`` (clients get ECONNREFUSED), then listen again
        on the same port; returns at once. Calling again while refusing extends the outage."""
        if self._listener.refuse(for_seconds):
            self._note(f"refusing connections for {for_seconds:g} s")

    def wait_listening(self, timeout: float) -> bool:
        """Block until the server listens again after ``refuse_connections``; False on timeout."""
        return self._listener.wait_listening(timeout)

    # Events ----------------------------------------------------------------------

    def events(
        self, kind: str = "delivered", *, addresses: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """``kind`` events for every released recipient (or only ``addresses``)."""
        accepted = [(r, self._schedule.released_of(r)) for r in list(self.accepted)]
        return [
            event
            for request, released in accepted
            for event in events_mod.events_for(
                request.message_id,
                request.payload,
                kind,
                addresses=addresses,
                personalizations=released,
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

    def _post_auto_events(self, request: AcceptedRequest, indexes: list[int]) -> None:
        if not self.webhook_url or self._closing.is_set():
            return
        for kind in self.auto_events:
            events = events_mod.events_for(
                request.message_id,
                request.payload,
                kind,
                timestamp=int(self.now()),
                personalizations=set(indexes),
            )
            label = f"{len(events)} {kind} event(s)"
            with self._lock:
                drop = (
                    bool(self.event_drop_rate) and self._event_rng.random() < self.event_drop_rate
                )
                self.events_dropped += drop
            if drop:
                self._note(f"dropped {label} (event_drop_rate)")
                continue
            try:
                self._poster.submit(self.webhook_url, events, label, delay=self.event_delay)
            except RuntimeError:
                return  # the server is stopping: its poster takes no more posts

    # Mail send -------------------------------------------------------------------

    def _check_mail(self, payload: Any) -> list[ApiError]:
        errors = check_mail_send(payload, invalid=self._invalid)
        return errors + check_schedule(payload, now=self.now(), known_batch=self._schedule.known)

    def _accept_mail(self, payload: dict[str, Any]) -> AcceptedRequest:
        now = self.now()
        batch_id = payload.get("batch_id")
        request = AcceptedRequest(
            secrets.token_urlsafe(16),
            payload,
            now,
            batch_id=batch_id if isinstance(batch_id, str) else None,
            due=due_times(payload, now),
        )
        self._schedule.accept(request)
        # Released (and its events queued) before answering, so a client that stops the
        # server right after the 202 still gets them; accepted is accepted, even if the
        # answer is then dropped.
        self._wake_release()
        self._record(request)
        return request

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


def _describe(item: AcceptedRequest | RejectedRequest) -> str:
    if isinstance(item, AcceptedRequest):
        status = item.status
        note = "" if status == "released" else f" ({status}, due {min(item.due, default=0):.0f})"
        return f"202 accepted {len(item.recipients)} recipient(s) as {item.message_id}{note}"
    first = item.errors[0] if item.errors else {}
    return f"{item.status} rejected: {first.get('message', '')} (field {first.get('field')})"
