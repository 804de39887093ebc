"""Scheduled sends for the SendGrid test server: batch ids, cancel/pause statuses, held mail.

The rules are SendGrid's, as documented for the v3 Mail Send ``send_at`` and
``batch_id`` fields and the "Cancel Scheduled Sends" API:

- ``POST /v3/mail/batch`` creates a batch id; a mail send may name it in ``batch_id``.
- Each personalization of an accepted request is one message, due at its own
  ``send_at``, else the request's, else at once (a ``send_at`` in the past means at
  once). A message is held until it is due, by the server's clock.
- A batch may carry one status, ``cancel`` or ``pause``; at most ``MAX_STATUSES``
  batch ids carry one at a time, and a status may be set or changed only until
  ``CANCEL_CUTOFF`` seconds before the batch's ``send_at`` (the earliest due time of
  any message sent in it; a batch with no messages yet has no deadline).
- When a message is due: in a cancelled batch it is discarded, in a paused batch it
  is kept (and discarded as expired ``PAUSE_EXPIRY`` after its due time), otherwise it
  is released. Lifting a pause (``DELETE``) releases kept messages that are past due.

Only released messages count as sent. A status is kept until it is deleted: this
server frees one of the ``MAX_STATUSES`` slots only on ``DELETE`` (SendGrid does not
document when a cancelled batch stops counting, so the stricter reading is used).
"""

from __future__ import annotations

import heapq
import itertools
import secrets
import string
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from newsletter.sendgrid_testserver.checks import ApiError, api_error

MAX_STATUSES = 10
CANCEL_CUTOFF = 10 * 60
PAUSE_EXPIRY = 72 * 3600
STATUSES = ("cancel", "pause")
BATCH_NOT_FOUND = "batch id not found"
INVALID_BATCH = "invalid batch id"
MAX_LIMIT = "max limit reached"
STATUS_EXISTS = "a status for this batch id exists, try PATCH to update the status"
TOO_LATE = "a batch can only be cancelled or paused up to 10 minutes before its send_at"
BAD_STATUS = "status must be either cancel or pause"
_ID_CHARS = string.ascii_letters + string.digits


class MessageStatus(StrEnum):
    """Where one message (one personalization) of an accepted request stands."""

    HELD = "held"  # waiting for its send_at, or kept by a pause
    RELEASED = "released"  # sent: the only state that counts as delivered
    DISCARDED = "discarded"  # its batch was cancelled, or its pause expired


@dataclass(eq=False)
class AcceptedRequest:
    """A mail-send request the server accepted; one status per personalization."""

    message_id: str
    payload: dict[str, Any]
    received_at: float
    batch_id: str | None = None
    due: list[float] = field(default_factory=list)  # per personalization, server clock
    statuses: list[MessageStatus] = field(default_factory=list)

    @property
    def recipients(self) -> list[str]:
        """Every ``to`` address, in order."""
        return [
            str(to["email"]) for p in self.payload["personalizations"] for to in p.get("to", [])
        ]

    @property
    def status(self) -> str:
        """``held``, ``released`` or ``discarded`` when every message agrees, else ``mixed``."""
        kinds = set(self.statuses)
        return next(iter(kinds)).value if len(kinds) == 1 else "mixed"

    def recipients_of(self, index: int) -> list[str]:
        """The ``to`` addresses of personalization ``index``."""
        personalization = self.payload["personalizations"][index]
        return [str(to["email"]) for to in personalization.get("to", [])]


Release = tuple[AcceptedRequest, list[int]]  # a request and the personalizations released


@dataclass(order=True)
class _Held:
    due: float
    seq: int
    request: AcceptedRequest = field(compare=False)
    index: int = field(compare=False)


def new_batch_id() -> str:
    """A fresh id shaped like SendGrid's (letters and digits)."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(32))


class Schedule:
    """Batches, statuses and held messages, judged by ``now()``; thread-safe."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.RLock()
        self._batches: dict[str, float | None] = {}  # id -> send_at (earliest due), if any
        self._statuses: dict[str, str] = {}
        self._held: list[_Held] = []  # a heap by due time
        self._kept: dict[str, list[_Held]] = {}  # past due, kept by a pause, per batch
        self._seq = itertools.count()
        self.released: Counter[str] = Counter()
        self.discarded: Counter[str] = Counter()

    # Batch ids -------------------------------------------------------------------

    def create_batch(self) -> str:
        """A new batch id, known from now on."""
        batch_id = new_batch_id()
        with self._lock:
            self._batches[batch_id] = None
        return batch_id

    def known(self, batch_id: object) -> bool:
        """Whether ``batch_id`` was created by this server."""
        with self._lock:
            return isinstance(batch_id, str) and batch_id in self._batches

    def send_at(self, batch_id: str) -> float | None:
        """The batch's send_at: the earliest due time of its messages (None if it has none)."""
        with self._lock:
            return self._batches.get(batch_id)

    # Statuses --------------------------------------------------------------------

    def statuses(self) -> dict[str, str]:
        """Every batch id carrying a status, with it, in the order they were set."""
        with self._lock:
            return dict(self._statuses)

    def add_status(self, body: Any) -> tuple[int, Any]:
        """``POST /v3/user/scheduled_sends``: the answer's status code and JSON body."""
        if not isinstance(body, dict):
            return 400, [api_error("The request body must be a JSON object.")]
        batch_id, status = body.get("batch_id"), body.get("status")
        with self._lock:
            if not self.known(batch_id):
                return 400, [api_error(INVALID_BATCH, "batch_id")]
            assert isinstance(batch_id, str)
            if status not in STATUSES:
                return 400, [api_error(BAD_STATUS, "status")]
            if batch_id in self._statuses:
                return 400, [api_error(STATUS_EXISTS, "batch_id")]
            if len(self._statuses) >= MAX_STATUSES:
                return 400, [api_error(MAX_LIMIT)]
            late = self._too_late(batch_id)
            if late:
                return 400, late
            self._statuses[batch_id] = str(status)
            return 201, {"batch_id": batch_id, "status": status}

    def get_status(self, batch_id: str) -> tuple[int, Any]:
        """``GET /v3/user/scheduled_sends/{batch_id}``."""
        with self._lock:
            status = self._statuses.get(batch_id)
        if status is None:
            return 404, [api_error(BATCH_NOT_FOUND)]
        return 200, [{"batch_id": batch_id, "status": status}]

    def list_statuses(self) -> tuple[int, Any]:
        """``GET /v3/user/scheduled_sends``: every cancel or pause, oldest first."""
        with self._lock:
            items = list(self._statuses.items())
        return 200, [{"batch_id": b, "status": s} for b, s in items]

    def update_status(self, batch_id: str, body: Any) -> tuple[int, Any]:
        """``PATCH /v3/user/scheduled_sends/{batch_id}``: 204 with no body on success."""
        with self._lock:
            if batch_id not in self._statuses:
                return 404, [api_error(BATCH_NOT_FOUND)]
            status = body.get("status") if isinstance(body, dict) else None
            if status not in STATUSES:
                return 400, [api_error(BAD_STATUS, "status")]
            late = self._too_late(batch_id)
            if late:
                return 400, late
            self._statuses[batch_id] = str(status)
            if status != "pause":
                self._requeue(batch_id)
            return 204, None

    def delete_status(self, batch_id: str) -> tuple[int, Any]:
        """``DELETE /v3/user/scheduled_sends/{batch_id}``: lift the cancel or pause (204)."""
        with self._lock:
            if self._statuses.pop(batch_id, None) is None:
                return 404, [api_error(BATCH_NOT_FOUND)]
            self._requeue(batch_id)
            return 204, None

    def _too_late(self, batch_id: str) -> list[ApiError]:
        send_at = self._batches.get(batch_id)
        if send_at is not None and self._now() > send_at - CANCEL_CUTOFF:
            return [api_error(TOO_LATE, "batch_id")]
        return []

    def _requeue(self, batch_id: str) -> None:
        for held in self._kept.pop(batch_id, []):
            heapq.heappush(self._held, held)

    # Messages --------------------------------------------------------------------

    def accept(self, request: AcceptedRequest) -> None:
        """Hold each message of ``request`` until it is due (``release_due`` sends it)."""
        now = self._now()
        with self._lock:
            request.due = [max(now, due) for due in request.due]
            request.statuses = [MessageStatus.HELD] * len(request.due)
            if request.batch_id is not None and request.due:
                earliest = min(request.due)
                current = self._batches.get(request.batch_id)
                self._batches[request.batch_id] = (
                    earliest if current is None else min(current, earliest)
                )
            for index, due in enumerate(request.due):
                heapq.heappush(self._held, _Held(due, next(self._seq), request, index))

    def next_due(self) -> float | None:
        """When something next changes on its own: a message due or a pause expiring."""
        with self._lock:
            times = [self._held[0].due] if self._held else []
            times += [kept[0].due + PAUSE_EXPIRY for kept in self._kept.values() if kept]
        return min(times) if times else None

    def release_due(self) -> list[Release]:
        """Release, keep or discard every message now due; the releases, grouped by request."""
        released: dict[int, Release] = {}
        with self._lock:
            now = self._now()
            while self._held and self._held[0].due <= now:
                held = heapq.heappop(self._held)
                status = self._statuses.get(held.request.batch_id or "")
                if status == "cancel":
                    self._settle(held, MessageStatus.DISCARDED)
                elif status == "pause":
                    self._kept.setdefault(held.request.batch_id or "", []).append(held)
                else:
                    self._settle(held, MessageStatus.RELEASED)
                    entry = released.setdefault(id(held.request), (held.request, []))
                    entry[1].append(held.index)
            for kept in self._kept.values():
                while kept and kept[0].due + PAUSE_EXPIRY <= now:
                    self._settle(kept.pop(0), MessageStatus.DISCARDED)
        return list(released.values())

    def counts(self, status: MessageStatus) -> Counter[str]:
        """Per ``to`` address, messages released (or discarded) so far; a copy."""
        with self._lock:
            return Counter(self.released if status is MessageStatus.RELEASED else self.discarded)

    def released_of(self, request: AcceptedRequest) -> set[int]:
        """Indexes of the personalizations of ``request`` released so far."""
        with self._lock:
            return {n for n, s in enumerate(request.statuses) if s is MessageStatus.RELEASED}

    def held_count(self) -> int:
        """Messages (personalizations) neither released nor discarded yet."""
        with self._lock:
            return len(self._held) + sum(len(kept) for kept in self._kept.values())

    def _settle(self, held: _Held, status: MessageStatus) -> None:
        held.request.statuses[held.index] = status
        counter = self.released if status is MessageStatus.RELEASED else self.discarded
        counter.update(held.request.recipients_of(held.index))
