"""Event Webhook traffic for the SendGrid test server: build events, sign and post them.

Events look like SendGrid's: one JSON object per recipient and event type, with the
message's ``custom_args`` as top-level keys, a unique ``sg_event_id``, and the
request signed with ECDSA P-256 / SHA-256 over ``timestamp + body`` (base64 DER
signature in ``X-Twilio-Email-Event-Webhook-Signature``).

``EventPoster`` posts them the way SendGrid does: a post that fails (any non-2xx
answer, a timeout or a connection error) is tried again with exponential backoff
until it succeeds or a time budget runs out (SendGrid's is 24 hours; tests want
seconds). The body, and so every ``sg_event_id``, stays the same across attempts,
so the receiver's dedupe makes a retry after a lost answer harmless; only the
signature's timestamp is fresh, as a replay check expects.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import random
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhookHeader

_FIRST_LINK = re.compile(r"""href=["'](https?://[^"']+)["']""")
# The signature headers as SendGrid names them (this server speaks SendGrid, not our code).
SIGNATURE_HEADER: str = EventWebhookHeader.SIGNATURE
TIMESTAMP_HEADER: str = EventWebhookHeader.TIMESTAMP
# What SendGrid adds to some event types.
_DETAILS: dict[str, dict[str, str]] = {
    "bounce": {
        "type": "bounce",
        "bounce_classification": "Invalid Address",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist",
        "status": "5.1.1",
    },
    "dropped": {"reason": "Bounced Address", "status": "5.0.0"},
    "deferred": {"response": "421 4.7.0 Try again later", "attempt": "1"},
}
# Events a reader causes on SendGrid's unsubscribe pages: they carry the request's
# unsubscribe group (``asm.group_id``) as ``asm_group_id``, and the browser's details.
_GROUP_EVENTS = frozenset({"group_unsubscribe", "group_resubscribe"})
_BROWSER = {"useragent": "Mozilla/5.0 (SendGrid test server)", "ip": "192.0.2.1"}


@dataclass(frozen=True)
class PostResult:
    """The webhook's answer to one signed post."""

    status: int
    body: bytes


def generate_signing_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key, the kind SendGrid signs events with."""
    return ec.generate_private_key(ec.SECP256R1())


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid shows it: base64 DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def sign(key: ec.EllipticCurvePrivateKey, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    der = key.sign(timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(der).decode("ascii")


def events_for(
    message_id: str,
    payload: Mapping[str, Any],
    kind: str,
    *,
    addresses: Collection[str] | None = None,
    timestamp: int | None = None,
    personalizations: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """One ``kind`` event per recipient of an accepted request (or those in ``addresses``,
    or of the ``personalizations`` at those indexes)."""
    wanted = {a.lower() for a in addresses} if addresses is not None else None
    when = int(time.time()) if timestamp is None else timestamp
    shared = {str(k): str(v) for k, v in (payload.get("custom_args") or {}).items()}
    events: list[dict[str, Any]] = []
    for n, personalization in enumerate(payload.get("personalizations") or []):
        if personalizations is not None and n not in personalizations:
            continue
        custom = {**shared, **(personalization.get("custom_args") or {})}
        for to in personalization.get("to") or []:
            email = str(to["email"])
            if wanted is not None and email.lower() not in wanted:
                continue
            event: dict[str, Any] = {
                **custom,
                "email": email,
                "timestamp": when,
                "event": str(kind),
                "sg_event_id": secrets.token_urlsafe(16),
                "sg_message_id": f"{message_id}.filter0001.{n}",
                "smtp-id": f"<{message_id}.{n}@testserver.invalid>",
                **_DETAILS.get(kind, {}),
            }
            if payload.get("categories"):
                event["category"] = list(payload["categories"])
            if kind == "click":
                event["url"] = _first_link(payload)
            if kind in _GROUP_EVENTS:
                event.update(_BROWSER, url=_first_link(payload))
                group = (payload.get("asm") or {}).get("group_id")
                if group is not None:
                    event["asm_group_id"] = group
            events.append(event)
    return events


def encode(events: Iterable[Mapping[str, Any]]) -> bytes:
    """The JSON array SendGrid posts, compact."""
    return json.dumps(list(events), separators=(",", ":")).encode("utf-8")


def post_events(
    webhook_url: str,
    events: Iterable[Mapping[str, Any]],
    *,
    key: ec.EllipticCurvePrivateKey,
    timestamp: int | None = None,
    timeout: float = 10.0,
) -> PostResult:
    """POST ``events`` to ``webhook_url`` signed with ``key``; returns the answer, even 4xx."""
    return post_body(webhook_url, encode(events), key=key, timestamp=timestamp, timeout=timeout)


def post_body(
    webhook_url: str,
    body: bytes,
    *,
    key: ec.EllipticCurvePrivateKey,
    timestamp: int | None = None,
    timeout: float = 10.0,
) -> PostResult:
    """POST an encoded event array, signed now (or at ``timestamp``); returns the answer."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    request = urllib.request.Request(  # noqa: S310 - the caller chooses an http(s) URL
        webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(key, stamp, body),
            TIMESTAMP_HEADER: stamp,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return PostResult(response.status, response.read())
    except urllib.error.HTTPError as exc:
        return PostResult(exc.code, exc.read())


def _first_link(payload: Mapping[str, Any]) -> str:
    for part in payload.get("content") or []:
        if part.get("type") == "text/html":
            match = _FIRST_LINK.search(str(part.get("value", "")))
            if match:
                return match.group(1)
    return "https://example.invalid/"


@dataclass(frozen=True)
class PostStats:
    """What an ``EventPoster`` has done so far; a post is one body, an attempt one HTTP try."""

    queued: int = 0  # posts handed over
    attempted: int = 0  # HTTP attempts made
    failed: int = 0  # attempts answered non-2xx or not answered at all
    delivered: int = 0  # posts that got a 2xx in the end
    given_up: int = 0  # posts dropped when the time budget ran out
    pending: int = 0  # posts neither delivered nor given up yet


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    label: str = field(compare=False)
    deadline: float = field(compare=False)
    attempts: int = field(default=0, compare=False)


class EventPoster:
    """Posts signed event bodies from background threads, retrying failures with backoff.

    ``retry_for`` bounds the time from queueing a post to giving it up; waits between
    attempts start at ``first_delay`` and double up to ``max_delay`` (with jitter, so
    a burst of failures does not come back in lockstep). ``workers`` threads post at
    once at most, as SendGrid limits its own concurrency per endpoint.
    """

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        retry_for: float = 30.0,
        first_delay: float = 0.1,
        max_delay: float = 5.0,
        attempt_timeout: float = 10.0,
        workers: int = 4,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if retry_for < 0 or first_delay <= 0 or max_delay < first_delay or workers < 1:
            raise ValueError(
                "retry_for must be >= 0, 0 < first_delay <= max_delay, and workers >= 1"
            )
        self.key = key
        self.retry_for = retry_for
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.attempt_timeout = attempt_timeout
        self.workers = workers
        self.log = log
        self._jobs: list[_Job] = []  # a heap ordered by when each job is next due
        self._seq = itertools.count()
        self._rng = random.Random()
        self._changed = threading.Condition()
        self._counts = dict.fromkeys(("queued", "attempted", "failed", "delivered", "given_up"), 0)
        self._running = 0  # jobs taken off the heap by a worker, not yet settled
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def stats(self) -> PostStats:
        """A snapshot of the counters."""
        with self._changed:
            return PostStats(**self._counts, pending=len(self._jobs) + self._running)

    def submit(
        self, url: str, events: Iterable[Mapping[str, Any]], label: str = "", delay: float = 0.0
    ) -> None:
        """Queue one post of ``events`` to ``url``, tried after ``delay`` s; returns at once."""
        body = encode(events)
        due = time.monotonic() + max(0.0, delay)
        with self._changed:
            if self._closed:
                raise RuntimeError("the event poster is closed")
            heapq.heappush(
                self._jobs, _Job(due, next(self._seq), url, body, label, due + self.retry_for)
            )
            self._counts["queued"] += 1
            if len(self._threads) < self.workers:  # started lazily: most servers never post
                thread = threading.Thread(
                    target=self._work, name=f"sendgrid-events-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._changed.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued post is delivered or given up; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._jobs and not self._running, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Wait for pending posts (up to ``timeout``), then stop the threads; True if none left.

        Posts held back by a ``delay`` and not yet tried are dropped at once and counted
        as given up: a stopped server never sends its late events.
        """
        with self._changed:
            now = time.monotonic()
            kept = [job for job in self._jobs if job.attempts > 0 or job.due <= now]
            if len(kept) < len(self._jobs):
                self._counts["given_up"] += len(self._jobs) - len(kept)
                self._jobs = kept
                heapq.heapify(self._jobs)
                self._changed.notify_all()
        done = self.wait(timeout)
        with self._changed:
            self._closed = True
            self._jobs.clear()  # left over only on timeout: dropped, as a stopped server would
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.attempt_timeout + 1)
        return done

    def _work(self) -> None:
        while True:
            with self._changed:
                job = self._next_due()
                if job is None:
                    return
                self._running += 1
            try:
                self._attempt(job)
            finally:
                with self._changed:
                    self._running -= 1
                    self._changed.notify_all()

    def _next_due(self) -> _Job | None:
        """The next job whose time has come (None once closed); call holding the lock."""
        while not self._closed:
            if self._jobs:
                wait = self._jobs[0].due - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._jobs)
                self._changed.wait(wait)
            else:
                self._changed.wait()
        return None

    def _attempt(self, job: _Job) -> None:
        job.attempts += 1
        timeout = max(0.1, min(self.attempt_timeout, job.deadline - time.monotonic()))
        try:
            result = post_body(job.url, job.body, key=self.key, timeout=timeout)
            ok, note = 200 <= result.status < 300, f"HTTP {result.status}"
        except OSError as exc:  # refused, reset, timed out: all worth another try
            ok, note = False, str(exc)
        with self._changed:
            self._counts["attempted"] += 1
            if ok:
                self._counts["delivered"] += 1
                line = f"posted {job.label}: {note}"
            else:
                self._counts["failed"] += 1
                delay = min(self.max_delay, self.first_delay * 2 ** (job.attempts - 1))
                delay *= 0.5 + self._rng.random() / 2
                if time.monotonic() + delay >= job.deadline:
                    self._counts["given_up"] += 1
                    line = f"could not post {job.label} to {job.url}: {note}; gave up"
                else:
                    line = f"could not post {job.label} to {job.url}: {note}; will retry"
                    job.due = time.monotonic() + delay
                    heapq.heappush(self._jobs, job)
                    self._changed.notify_all()
        if self.log is not None:
            self.log(line)
