"""What the test server's HTTP side asks of the server that owns it, and what it refuses.

The handlers (``http``), the controls (``control``) and the socket (``listener``) are
given an ``Owner``, which ``server.SendGridTestServer`` is: they never import the
server module, which imports them.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol, Unpack

from newsletter.sendgrid_testserver.checks import ApiError
from newsletter.sendgrid_testserver.faults import Endpoint, Fault, FaultPlan, Injection
from newsletter.sendgrid_testserver.schedule import AcceptedRequest, Schedule


@dataclass(frozen=True)
class RejectedRequest:
    """A request the server refused, with SendGrid-style errors."""

    status: int
    errors: list[dict[str, Any]]
    payload: Any = None
    endpoint: str = Endpoint.MAIL_SEND.value


class Owner(Protocol):
    """The server as its handlers, controls and listener see it."""

    api_key: str
    latency: float
    event_delay: float
    event_drop_rate: float
    accepted: list[AcceptedRequest]
    rejected: list[RejectedRequest]
    _closing: threading.Event
    _faults: FaultPlan
    _schedule: Schedule

    @property
    def clock_offset(self) -> float:
        """Seconds ``advance`` has added to the clock."""
        ...

    @property
    def refusing(self) -> bool:
        """Whether an outage started by ``refuse_connections`` is under way."""
        ...

    def now(self) -> float:
        """The server's clock (unix seconds)."""
        ...

    def advance(self, seconds: float) -> float:
        """Move the clock forward, release what is due; the new ``now()``."""
        ...

    def delivered_recipients(self) -> Counter[str]:
        """Per address, how many messages were released."""
        ...

    def discarded_recipients(self) -> Counter[str]:
        """Per address, how many messages were discarded."""
        ...

    def held_count(self) -> int:
        """Messages accepted but neither released nor discarded yet."""
        ...

    def batch_statuses(self) -> dict[str, str]:
        """Batch ids carrying a ``cancel`` or ``pause`` status, with it."""
        ...

    def inject(self, fault: Fault, **how: Unpack[Injection]) -> None:
        """Apply ``fault`` to the next ``count`` requests to ``on``."""
        ...

    def fault_for(self, fault: Fault, for_seconds: float, *, on: Endpoint = Endpoint.ANY) -> None:
        """Answer every request to ``on`` with ``fault`` for ``for_seconds``."""
        ...

    def rate_limit(self, for_seconds: float, *, on: Endpoint = Endpoint.ANY) -> None:
        """Answer 429 for ``for_seconds``."""
        ...

    def clear_faults(self) -> None:
        """Forget every planned and held fault."""
        ...

    def set_event_faults(self, *, delay: float = 0.0, drop_rate: float = 0.0) -> None:
        """Make automatic events late by ``delay`` or lost at ``drop_rate``."""
        ...

    def refuse_connections(self, for_seconds: float) -> None:
        """Stop listening for ``for_seconds``."""
        ...

    def _check_mail(self, payload: Any) -> list[ApiError]: ...

    def _accept_mail(self, payload: dict[str, Any]) -> AcceptedRequest: ...

    def _record(self, item: AcceptedRequest | RejectedRequest) -> None: ...

    def _wake_release(self) -> None: ...

    def _note(self, line: str) -> None: ...
