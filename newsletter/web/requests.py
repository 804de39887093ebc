"""Request ids, and the log lines that carry them (JSON lines on request).

Every HTTP request gets an id: the ``X-Request-ID`` the proxy sent when it is a sane
token (so nginx's ``$request_id`` ties its log to ours), else a fresh one. It is
answered in the ``X-Request-ID`` response header and put on every log record made
while the request runs, the access line included. ``configure`` sets the process's
log output: text as before, or one JSON object per line
(``NEWSLETTER_LOG_FORMAT=json``, through python-json-logger) with the time, level,
logger, message, request id and, for access lines, client, method, path and status.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from typing import Any

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.web.logs import RedactTokens

HEADER = "x-request-id"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


class RequestId:
    """ASGI middleware: give each HTTP request an id, answer it, log with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Set the id for this request's context and add it to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(HEADER.encode(), b"").decode("latin-1")
        request_id = sent if _SANE.match(sent) else uuid.uuid4().hex
        token = current.set(request_id)

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != HEADER.encode()]
                message["headers"] = [*headers, (HEADER.encode(), request_id.encode())]
            await send(message)

        await self.app(scope, receive, with_id)
        # Reset only after success: on an exception the id stays set for this request's
        # task, so that the server-error handler (outside every middleware) logs with it.
        current.reset(token)


class WithRequestId(logging.Filter):
    """Puts the current request id (or '') on every record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Never drops a record."""
        record.request_id = current.get()
        # uvicorn's terminal-coloured copy of the message: noise in a JSON line.
        record.__dict__.pop("color_message", None)
        return True


class AccessFields(logging.Filter):
    """Spells out uvicorn's access line (client, method, path, status) as fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        """uvicorn passes (client, method, path, http version, status) as the arguments."""
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            record.client, record.method, record.path, _, record.status = args
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per line: time, level, logger, message, request id and extras."""
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}{request_id}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


def configure(log_format: str, *extra: logging.Filter) -> dict[str, Any] | None:
    """Set this process's log output; the ``log_config`` to give uvicorn.

    ``text`` keeps uvicorn's own configuration (returns its default); ``json`` sends
    every logger, uvicorn's included, through one JSON handler on stderr (returns
    None so uvicorn leaves it alone), with the ``extra`` filters (a Celery worker adds
    its task's id and name).
    """
    if log_format != "json":
        from uvicorn.config import LOGGING_CONFIG

        return LOGGING_CONFIG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter())
    handler.addFilter(RedactTokens())  # first: the fields below are copied from its output
    handler.addFilter(WithRequestId())
    handler.addFilter(AccessFields())
    for more in extra:
        handler.addFilter(more)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        # An earlier logging configuration in this process (uvicorn's own, or a
        # ``fileConfig`` that disables existing loggers) must not silence them.
        logger.disabled = False
        logger.setLevel(logging.NOTSET)
    return None
