"""``/_test/...``: the SendGrid test server's own controls over HTTP. NOT part of SendGrid's API.

For a test server running in another process (``newsletter sendgrid-test-server``):

- ``GET /_test/clock`` → ``{"now": <unix time>, "offset": <seconds>}``; ``POST /_test/clock``
  with ``{"advance": 600}`` moves the server's clock forward (held mail due by then goes out).
- ``POST /_test/faults`` with any of ``{"refuse_for": s, "rate_limit_for": s,
  "server_error_for": s, "inject": {"kind": "late_answer", "delay": 30, "count": 5,
  "on": "mail_send"}, "event_delay": s, "event_drop_rate": 0.5, "clear": true}``.
- ``GET /_test/state`` → released and discarded recipients (address → count), held
  messages, batch statuses, and how many requests were accepted and refused.

No key is asked for: these paths exist only on the test server, which listens on
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from newsletter.sendgrid_testserver.faults import Endpoint, Fault, fault_named

if TYPE_CHECKING:
    from newsletter.sendgrid_testserver.owner import Owner

PREFIX = "/_test/"


def handle(owner: Owner, method: str, path: str, body: Any) -> tuple[int, Any]:
    """Act on one control request; (status, JSON answer). Bad input raises ValueError."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    if path == "/_test/clock" and method in ("GET", "POST"):
        if method == "POST":
            owner.advance(_number(body, "advance"))
        return 200, {"now": owner.now(), "offset": owner.clock_offset}
    if path == "/_test/faults" and method == "POST":
        _faults(owner, body)
        return 200, {"ok": True}
    if path == "/_test/state" and method == "GET":
        return 200, {
            "released": dict(owner.delivered_recipients()),
            "discarded": dict(owner.discarded_recipients()),
            "held": owner.held_count(),
            "statuses": owner.batch_statuses(),
            "accepted": len(owner.accepted),
            "rejected": len(owner.rejected),
        }
    return 404, {"errors": [{"message": f"no test control {method} {path}", "field": None}]}


def _faults(owner: Owner, body: dict[str, Any]) -> None:
    if body.get("clear"):
        owner.clear_faults()
    if "refuse_for" in body:
        owner.refuse_connections(_number(body, "refuse_for"))
    if "rate_limit_for" in body:
        owner.rate_limit(_number(body, "rate_limit_for"))
    if "server_error_for" in body:
        owner.fault_for(Fault.SERVER_ERROR, _number(body, "server_error_for"))
    if "inject" in body:
        spec = body["inject"]
        if not isinstance(spec, dict):
            raise ValueError("inject: must be an object with kind, delay, count, on")
        fault = fault_named(str(spec.get("kind")), _number(spec, "delay", 0.0))
        count = spec.get("count", 1)
        if not isinstance(count, int):
            raise ValueError(f"inject.count: must be an integer, got {count!r}")
        owner.inject(fault, count=count, on=Endpoint(spec.get("on", "mail_send")))
    if "event_delay" in body or "event_drop_rate" in body:
        owner.set_event_faults(
            delay=_number(body, "event_delay", owner.event_delay),
            drop_rate=_number(body, "event_drop_rate", owner.event_drop_rate),
        )


def _number(body: dict[str, Any], name: str, default: float | None = None) -> float:
    value = body.get(name, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name}: must be a number >= 0, got {value!r}")
    return float(value)
