"""ASGI middleware of the public app: a request body cap, security headers, page gzip.

The body cap runs before any form or JSON parsing, so an oversized request is refused
with 413 whatever the endpoint, and a chunked body without ``Content-Length`` cannot
slip past it. The same place applies the JSON limits once for every route (API,
sign-up, webhook): a JSON body over ``Limits.json_bytes`` is a 413 and one nested
deeper than ``Limits.json_depth`` a 400, before any view parses it.
"""

from __future__ import annotations

import json
import re

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.limits import DEFAULT_LIMITS, Limits, json_too_deep, looks_like_json

UPLOAD_OVERHEAD = 64 * 1024  # a multipart form's boundaries and other fields

SECURITY_HEADERS = {
    # No scripts at all; inline styles only; forms post back to us.
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # Tokens live in URLs: never send them to another site in a Referer.
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, adding the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.encode(), value.encode())
                    for name, value in SECURITY_HEADERS.items()
                    if name.encode() not in present
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuses request bodies larger than ``max_bytes`` with 413, before the app reads them.

    A JSON body (``looks_like_json``) must also keep to the JSON limits of ``limits``.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        limits: Limits = DEFAULT_LIMITS,
        uploads: re.Pattern[str] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = limits
        # Paths that take a file upload (a CSV import): up to the CSV limit plus the form's
        # own bytes, streamed to the app (which spools the file to disk), never buffered here.
        self.uploads = uploads
        self.upload_bytes = limits.csv_bytes + UPLOAD_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body up to the cap, then replay it to the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"0")
        if scope.get("method") == "POST" and self._is_upload(scope):
            await self._upload(scope, receive, send, declared)
            return
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._refuse(send, 413, self._too_large(self.max_bytes))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, 413, self._too_large(self.max_bytes))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if body and looks_like_json(content_type, body):
            if len(body) > self.limits.json_bytes:
                await self._refuse(send, 413, self._too_large(self.limits.json_bytes, "JSON "))
                return
            too_deep = json_too_deep(body, self.limits.json_depth)
            if too_deep is not None:
                await self._refuse(send, 400, f"body: {too_deep}.")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _is_upload(self, scope: Scope) -> bool:
        return (
            self.uploads is not None and self.uploads.fullmatch(scope.get("path", "")) is not None
        )

    async def _upload(self, scope: Scope, receive: Receive, send: Send, declared: bytes) -> None:
        """Stream an upload of a declared length within the cap (the server holds the body
        to that length); refuse one larger or of no declared length (chunked)."""
        if declared.isdigit() and 0 < int(declared) <= self.upload_bytes:
            await self.app(scope, receive, send)
        else:
            await self._refuse(send, 413, self._too_large(self.upload_bytes, "upload "))

    @staticmethod
    def _too_large(limit: int, kind: str = "") -> str:
        return f"The {kind}request body is larger than {limit} bytes."

    @staticmethod
    async def _refuse(send: Send, status: int, text: str) -> None:
        body = json.dumps({"error": text, "status": status}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *[(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()],
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# Public pages hold no secret: compressing them cannot leak one (BREACH needs a secret
# and attacker-chosen text in one compressed body, as the editors' pages with their
# CSRF tokens and the token pages of readers would have). Feeds compress themselves.
PUBLIC_PREFIXES = ("/p/",)
GZIP_MINIMUM_BYTES = 1024


class PublicGZip:
    """gzip for the public archive pages (``/`` and ``/p/...``) when the client asks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=GZIP_MINIMUM_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Compress public pages; pass everything else through as it is."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope["type"] == "http" and (path == "/" or path.startswith(PUBLIC_PREFIXES)):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
