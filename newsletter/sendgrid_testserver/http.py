"""The SendGrid test server's HTTP side: routing, SendGrid's checks and answers, faults.

Served, as SendGrid documents them (Bearer key on every one):

- ``POST /v3/mail/send`` (202 + ``X-Message-Id``; ``send_at`` and ``batch_id`` honoured),
- ``POST /v3/mail/batch`` (201 ``{"batch_id"}``), ``GET /v3/mail/batch/{id}``
  (200, or 400 ``invalid batch id``),
- ``POST`` / ``GET /v3/user/scheduled_sends`` and ``GET`` / ``PATCH`` / ``DELETE
  /v3/user/scheduled_sends/{id}`` (201 / 200 / 200 / 204 / 204).

``/_test/...`` paths are this server's own controls, not SendGrid's (see
``control``).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from newsletter.sendgrid_testserver import control
from newsletter.sendgrid_testserver.checks import MAX_BODY_BYTES, api_error
from newsletter.sendgrid_testserver.faults import BEFORE, Endpoint, Fault, FaultKind
from newsletter.sendgrid_testserver.owner import Owner, RejectedRequest
from newsletter.sendgrid_testserver.schedule import INVALID_BATCH

MAIL_SEND_PATH = "/v3/mail/send"
MAIL_BATCH_PATH = "/v3/mail/batch"
SCHEDULED_SENDS_PATH = "/v3/user/scheduled_sends"
_BATCH_ITEM = re.compile(r"^/v3/mail/batch/([^/]+)$")
_STATUS_ITEM = re.compile(r"^/v3/user/scheduled_sends/([^/]+)$")


@dataclass(frozen=True)
class Answer:
    """What to send back: a status, a JSON body (None for none) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Action = Callable[[Owner, Any, str], Answer]


def _mail_send(owner: Owner, payload: Any, _: str) -> Answer:
    errors = owner._check_mail(payload)
    if errors:
        return Answer(400, {"errors": errors})
    accepted = owner._accept_mail(payload)
    return Answer(202, None, {"X-Message-Id": accepted.message_id})


def _create_batch(owner: Owner, _: Any, __: str) -> Answer:
    return Answer(201, {"batch_id": owner._schedule.create_batch()})


def _validate_batch(owner: Owner, _: Any, batch_id: str) -> Answer:
    if owner._schedule.known(batch_id):
        return Answer(200, {"batch_id": batch_id})
    return Answer(400, {"errors": [api_error(INVALID_BATCH)]})


def _wrap(result: tuple[int, Any]) -> Answer:
    status, body = result
    return Answer(status, {"errors": body} if status >= 400 else body)


def _add_status(owner: Owner, payload: Any, _: str) -> Answer:
    return _wrap(owner._schedule.add_status(payload))


def _list_statuses(owner: Owner, _: Any, __: str) -> Answer:
    return _wrap(owner._schedule.list_statuses())


def _get_status(owner: Owner, _: Any, batch_id: str) -> Answer:
    return _wrap(owner._schedule.get_status(batch_id))


def _update_status(owner: Owner, payload: Any, batch_id: str) -> Answer:
    answer = _wrap(owner._schedule.update_status(batch_id, payload))
    owner._wake_release()  # a pause turned cancel may settle kept mail
    return answer


def _delete_status(owner: Owner, _: Any, batch_id: str) -> Answer:
    answer = _wrap(owner._schedule.delete_status(batch_id))
    owner._wake_release()  # mail kept by a lifted pause goes out now
    return answer


def route(method: str, path: str) -> tuple[Endpoint, Action, str] | None:
    """The endpoint, action and path id for ``method path``; None when not served."""
    fixed: dict[tuple[str, str], tuple[Endpoint, Action]] = {
        ("POST", MAIL_SEND_PATH): (Endpoint.MAIL_SEND, _mail_send),
        ("POST", MAIL_BATCH_PATH): (Endpoint.MAIL_BATCH, _create_batch),
        ("POST", SCHEDULED_SENDS_PATH): (Endpoint.SCHEDULED_SENDS, _add_status),
        ("GET", SCHEDULED_SENDS_PATH): (Endpoint.SCHEDULED_SENDS, _list_statuses),
    }
    if (method, path) in fixed:
        endpoint, action = fixed[(method, path)]
        return endpoint, action, ""
    batch = _BATCH_ITEM.match(path)
    if batch and method == "GET":
        return Endpoint.MAIL_BATCH, _validate_batch, unquote(batch.group(1))
    item = _STATUS_ITEM.match(path)
    actions: dict[str, Action] = {
        "GET": _get_status,
        "PATCH": _update_status,
        "DELETE": _delete_status,
    }
    if item and method in actions:
        return Endpoint.SCHEDULED_SENDS, actions[method], unquote(item.group(1))
    return None


def content_length(value: str | None) -> int:
    """The declared body length, 0 when absent, -1 when unreadable."""
    if value is None:
        return 0
    try:
        length = int(value)
    except ValueError:
        return -1
    return length if length >= 0 else -1


class HTTPServer(ThreadingHTTPServer):
    """A threading server that knows its owner and ignores clients that left."""

    daemon_threads = True
    block_on_close = False
    owner: Owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and left makes writing its answer fail; that is expected."""
        return


class Handler(BaseHTTPRequestHandler):
    """One connection: SendGrid's endpoints, the faults planned for them, and ``/_test``."""

    server: HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; the owner's ``log`` reports what matters."""

    def do_GET(self) -> None:
        """Serve a GET."""
        self._handle("GET")

    def do_POST(self) -> None:
        """Serve a POST."""
        self._handle("POST")

    def do_PATCH(self) -> None:
        """Serve a PATCH."""
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        """Serve a DELETE."""
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path
        if owner.refusing:
            self._drop()  # a connection made before the outage: it dies with the server
            return
        if path.startswith(control.PREFIX):
            self._control(method, path)
            return
        found = route(method, path)
        if found is None:
            self._drain()
            self.send(404, {"errors": [api_error(f"Not found: {method} {path} is not served.")]})
            return
        endpoint, action, item = found
        if owner.latency and owner._closing.wait(owner.latency):
            self._drop()  # the server is stopping: this request never arrived
            return
        payload, done = self._read_request(endpoint)
        if done:
            return
        fault, reset_in = owner._faults.next(endpoint)
        if fault is not None and self._fault_before(fault, reset_in, endpoint):
            return
        answer = action(owner, payload, item)
        if answer.status >= 400:
            owner._record(RejectedRequest(answer.status, answer.body["errors"], payload, endpoint))
        if fault is not None and fault.kind is FaultKind.DROP_AFTER_ACCEPT:
            self._drop()
        elif (
            fault is not None
            and fault.kind is FaultKind.LATE_ANSWER
            and owner._closing.wait(fault.delay)
        ):
            self._drop()  # the server stopped before the late answer was due
        else:
            self.send(answer.status, answer.body, answer.headers)

    def _read_request(self, endpoint: Endpoint) -> tuple[Any, bool]:
        """Read, authenticate and parse the body; (payload, True) once refused."""
        length = content_length(self.headers.get("Content-Length"))
        if length < 0:
            self.close_connection = True  # the body's end is unknown, so the stream is unusable
            self._refuse(endpoint, 411, "A valid Content-Length header is required.")
            return None, True
        if length >= MAX_BODY_BYTES:
            self._drain()  # read it all, so the client sees our answer rather than a reset
            self._refuse(endpoint, 413, "The request is too large: it must be under 30 MB.")
            return None, True
        raw = self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        if not auth:
            self._refuse(endpoint, 401, "authorization required")
            return None, True
        expected = f"Bearer {self.server.owner.api_key}".encode()
        if not secrets.compare_digest(auth.encode(), expected):
            message = "The provided authorization grant is invalid, expired, or revoked"
            self._refuse(endpoint, 401, message)
            return None, True
        if not raw and endpoint is not Endpoint.MAIL_SEND:
            return None, False  # batch creation, reads and deletes carry no body
        media_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            self._refuse(endpoint, 415, "Content-Type should be application/json.")
            return None, True
        try:
            return json.loads(raw), False
        except ValueError:
            self._refuse(endpoint, 400, "Bad Request: the body is not valid JSON.")
            return None, True

    def _fault_before(self, fault: Fault, reset_in: float | None, endpoint: Endpoint) -> bool:
        """Act out a fault due before the request is handled; True when it is finished."""
        owner = self.server.owner
        if fault.kind is FaultKind.SLOW:
            # Cut short when the server stops; a request still waiting then is never handled.
            if owner._closing.wait(fault.delay):
                self._drop()
                return True
            return False
        if fault.kind not in BEFORE:
            return False
        if fault.kind is FaultKind.DROP_BEFORE_ACCEPT:
            self._drop()
        elif fault.kind is FaultKind.SERVER_ERROR:
            self._refuse(endpoint, 500, "Internal server error (injected fault).")
        else:
            headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"}
            if reset_in is not None:
                headers["X-RateLimit-Reset"] = str(math.ceil(owner.now() + reset_in))
            self._refuse(endpoint, 429, "too many requests", headers)
        return True

    def _control(self, method: str, path: str) -> None:
        length = content_length(self.headers.get("Content-Length"))
        try:
            body = json.loads(self.rfile.read(length) or b"{}") if length > 0 else {}
            status, answer = control.handle(self.server.owner, method, path, body)
        except ValueError as exc:
            status, answer = 400, {"errors": [api_error(str(exc))]}
        self.send(status, answer)

    def _refuse(
        self, endpoint: Endpoint, status: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        errors = [api_error(message)]
        self.server.owner._record(RejectedRequest(status, errors, None, endpoint))
        self.send(status, {"errors": errors}, headers)

    def send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Answer ``status`` with ``body`` as JSON (nothing when None)."""
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drain(self) -> None:
        remaining = content_length(self.headers.get("Content-Length"))
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
