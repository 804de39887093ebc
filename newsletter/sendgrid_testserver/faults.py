"""Faults the SendGrid test server can act out: planned, for a period, or drawn at random.

A fault is chosen per request, before the request is handled, in this order: a
fault active for a period (``FaultPlan.during``), then the first planned fault whose
endpoint matches (``FaultPlan.inject``), then, for mail sends only, a random one
(``rate`` with a ``seed``). Refusing connections is not a per-request fault: the
server stops listening (``SendGridTestServer.refuse_connections``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, TypedDict


class FaultKind(StrEnum):
    """What an injected fault does to one request."""

    RATE_LIMIT = "rate_limit"  # 429 with X-RateLimit-Reset; nothing done
    SERVER_ERROR = "server_error"  # 500; nothing done
    SLOW = "slow"  # wait ``delay``, then handle and answer normally
    DROP_BEFORE_ACCEPT = "drop_before_accept"  # close the connection; nothing done
    DROP_AFTER_ACCEPT = "drop_after_accept"  # handle the request, then close without answering
    LATE_ANSWER = "late_answer"  # handle the request, answer only after ``delay``


class Endpoint(StrEnum):
    """Which requests a fault applies to."""

    MAIL_SEND = "mail_send"  # POST /v3/mail/send
    MAIL_BATCH = "mail_batch"  # POST /v3/mail/batch, GET /v3/mail/batch/{id}
    SCHEDULED_SENDS = "scheduled_sends"  # /v3/user/scheduled_sends[/{id}], any method
    ANY = "any"


@dataclass(frozen=True)
class Fault:
    """One fault; use the class attributes, ``Fault.SLOW(seconds)`` or ``Fault.LATE_ANSWER(s)``."""

    kind: FaultKind
    delay: float = 0.0

    RATE_LIMIT: ClassVar[Fault]
    SERVER_ERROR: ClassVar[Fault]
    DROP_BEFORE_ACCEPT: ClassVar[Fault]
    DROP_AFTER_ACCEPT: ClassVar[Fault]

    @staticmethod
    def SLOW(delay: float) -> Fault:
        """Handle the request only after ``delay`` seconds (nothing done if the server stops)."""
        return Fault(FaultKind.SLOW, _checked_delay(delay))

    @staticmethod
    def LATE_ANSWER(delay: float) -> Fault:
        """Handle the request at once, answer after ``delay`` (longer than the client's timeout)."""
        return Fault(FaultKind.LATE_ANSWER, _checked_delay(delay))


Fault.RATE_LIMIT = Fault(FaultKind.RATE_LIMIT)
Fault.SERVER_ERROR = Fault(FaultKind.SERVER_ERROR)
Fault.DROP_BEFORE_ACCEPT = Fault(FaultKind.DROP_BEFORE_ACCEPT)
Fault.DROP_AFTER_ACCEPT = Fault(FaultKind.DROP_AFTER_ACCEPT)
DEFAULT_RANDOM_FAULTS = (Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.DROP_AFTER_ACCEPT)
RANDOM_RATE_LIMIT_RESET = 1.0  # seconds until X-RateLimit-Reset for a random 429
# Faults that act before anything is done; the others act around a handled request.
BEFORE = frozenset({FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR, FaultKind.DROP_BEFORE_ACCEPT})


def _checked_delay(delay: float) -> float:
    if not 0 <= delay <= 3600:
        raise ValueError(f"fault delay must be between 0 and 3600 seconds, got {delay}")
    return float(delay)


def fault_named(kind: str, delay: float = 0.0) -> Fault:
    """The fault called ``kind`` (a ``FaultKind`` value), with ``delay`` for slow or late ones."""
    try:
        fault_kind = FaultKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"fault kind must be one of {names}, got {kind!r}") from None
    if fault_kind in (FaultKind.SLOW, FaultKind.LATE_ANSWER):
        return Fault(fault_kind, _checked_delay(delay))
    return Fault(fault_kind)


@dataclass
class _Planned:
    fault: Fault
    remaining: int
    reset_in: float | None
    on: Endpoint


@dataclass(frozen=True)
class _Period:
    fault: Fault
    until: float  # on the monotonic clock
    on: Endpoint


def _matches(on: Endpoint, endpoint: Endpoint) -> bool:
    return on is Endpoint.ANY or on is endpoint


class Injection(TypedDict, total=False):
    """``inject``'s options past the fault; their defaults are ``FaultPlan.inject``'s."""

    count: int
    reset_in: float | None
    on: Endpoint


class FaultPlan:
    """Decides the fault (if any) for each request; thread-safe, seedable."""

    def __init__(
        self,
        *,
        rate: float = 0.0,
        seed: int | None = None,
        random_faults: Iterable[Fault] = DEFAULT_RANDOM_FAULTS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, got {rate}")
        self.rate = rate
        self.random_faults = tuple(random_faults)
        if rate and not self.random_faults:
            raise ValueError("random_faults must name at least one fault when fault_rate > 0")
        self._rng = random.Random(seed)
        self._monotonic = monotonic
        self._planned: list[_Planned] = []
        self._periods: list[_Period] = []
        self._lock = threading.Lock()

    def inject(
        self,
        fault: Fault,
        *,
        count: int = 1,
        reset_in: float | None = None,
        on: Endpoint = Endpoint.MAIL_SEND,
    ) -> None:
        """Apply ``fault`` to the next ``count`` requests to ``on`` (after earlier plans)."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self._lock:
            self._planned.append(_Planned(fault, count, reset_in, Endpoint(on)))

    def during(self, fault: Fault, for_seconds: float, *, on: Endpoint = Endpoint.ANY) -> None:
        """Apply ``fault`` to every request to ``on`` for the next ``for_seconds`` seconds."""
        if not 0 < for_seconds <= 86_400:
            raise ValueError(f"for_seconds must be between 0 and 86400, got {for_seconds}")
        with self._lock:
            until = self._monotonic() + for_seconds
            self._periods.append(_Period(fault, until, Endpoint(on)))

    def clear(self) -> None:
        """Forget every planned fault and period (random faults stay)."""
        with self._lock:
            self._planned.clear()
            self._periods.clear()

    def next(self, endpoint: Endpoint) -> tuple[Fault | None, float | None]:
        """The fault for one request to ``endpoint`` and, for a 429, seconds until reset."""
        with self._lock:
            now = self._monotonic()
            self._periods = [p for p in self._periods if p.until > now]
            for period in self._periods:
                if _matches(period.on, endpoint):
                    return period.fault, period.until - now
            for n, planned in enumerate(self._planned):
                if _matches(planned.on, endpoint):
                    planned.remaining -= 1
                    if planned.remaining == 0:
                        del self._planned[n]
                    return planned.fault, planned.reset_in
            if endpoint is Endpoint.MAIL_SEND and self.rate and self._rng.random() < self.rate:
                return self._rng.choice(self.random_faults), RANDOM_RATE_LIMIT_RESET
        return None, None
