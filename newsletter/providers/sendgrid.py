"""The SendGrid v3 adapter: one ``Batch`` becomes one ``POST /v3/mail/send`` request.

``build_payload`` is pure (batch in, JSON-ready dict out) so it is tested without a
network; ``SendGridSender`` sends that payload with the ``sendgrid`` package and
turns every answer into a ``SendResult`` or an error from ``newsletter.errors``.

Substitutions and escaping: SendGrid replaces a substitution key with the *same*
value in the subject, the text part and the HTML part, so a value must read the
same in all of them. A value is safe in both exactly when it holds none of the five
HTML-special characters ``& < > " '``. The project's personal URLs are built from
URL-safe tokens in the path, so they never contain them; a URL that does is a bug
upstream and is refused (escaping it for HTML would break the text part, leaving it
raw could break the ``href``). Names are the subscriber's own words, so instead of
refusing them, the five characters become look-alike typographic characters
(``O'Brien`` → ``O’Brien``): readable in every part and inert in HTML.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from newsletter.errors import (
    ConfigError,
    OutcomeUnknownError,
    PermanentError,
    RecipientsRejected,
    RetryableError,
)
from newsletter.providers.interfaces import (
    Batch,
    Message,
    Recipient,
    SendResult,
    has_html_special,
    substitution_value,
)
from newsletter.textrules import header_text

MAX_REQUEST_BYTES = 30 * 1024 * 1024  # SendGrid: the whole request must stay under 30 MB
# Still SendGrid's application/json; naming the charset makes python_http_client send
# our already-encoded body as it is instead of serialising the payload a second time.
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
MAX_CATEGORIES = 10
_RECIPIENT_FIELD = re.compile(r"^personalizations\.(\d+)\.to(?:\.\d+(?:\.email)?)?$")


def build_payload(batch: Batch) -> dict[str, Any]:
    """The v3 mail/send JSON for ``batch``: one personalization per recipient."""
    message = batch.message
    if len(message.categories) > MAX_CATEGORIES:
        raise PermanentError(
            f"batch {batch.key}: {len(message.categories)} categories, "
            f"SendGrid allows at most {MAX_CATEGORIES}"
        )
    payload: dict[str, Any] = {
        "personalizations": [
            _personalization(batch.key, index, r) for index, r in enumerate(batch.recipients)
        ],
        "from": _address(message.from_email, message.from_name),
        "subject": message.subject,
        "content": _content(batch.key, message),
        "tracking_settings": {
            "open_tracking": {"enable": message.track_opens},
            "click_tracking": {"enable": message.track_clicks, "enable_text": False},
            # Our own one-click unsubscribe is in every message; SendGrid's would be a second one.
            "subscription_tracking": {"enable": False},
        },
    }
    if message.reply_to:
        payload["reply_to"] = {"email": message.reply_to}
    if message.headers:
        payload["headers"] = dict(message.headers)
    if message.categories:
        payload["categories"] = list(message.categories)
    if message.custom_args:
        payload["custom_args"] = dict(message.custom_args)
    if message.unsubscribe_group is not None:
        # One group per send; SendGrid drops the group's unsubscribes from it.
        payload["asm"] = {"group_id": message.unsubscribe_group}
    if batch.send_at is not None:
        payload["send_at"] = int(batch.send_at.timestamp())
    if batch.provider_batch:
        payload["batch_id"] = batch.provider_batch
    return payload


def encode_payload(batch: Batch, payload: Mapping[str, Any]) -> str:
    """The request body exactly as it goes on the wire (UTF-8 JSON); refuses one of 30 MB or more.

    orjson encodes a 1000-recipient request about ten times faster than ``json``. A
    string it refuses (a lone surrogate, which no UTF-8 can hold) falls back to
    ``json``'s ASCII escapes, so one odd name never fails a whole batch.
    """
    try:
        encoded = orjson.dumps(payload)
    except orjson.JSONEncodeError:
        body = json.dumps(payload)  # ASCII only: its length is its size in bytes
        size = len(body)
    else:
        size = len(encoded)
        body = encoded.decode()
    if size >= MAX_REQUEST_BYTES:
        raise PermanentError(
            f"batch {batch.key}: request is {size} bytes, SendGrid accepts less than "
            f"{MAX_REQUEST_BYTES} (30 MB); send fewer recipients per batch"
        )
    return body


def _address(email: str, name: str) -> dict[str, str]:
    shown = header_text(name)  # one line, no control characters, whatever was stored
    return {"email": email, "name": shown} if shown else {"email": email}


def _personalization(batch_key: str, index: int, recipient: Recipient) -> dict[str, Any]:
    # The recipient's own dicts go into the payload as they are (it is only serialised),
    # and values with nothing HTML-special, which is nearly all, are passed through
    # after one scan instead of one call each.
    to = recipient.email
    entry: dict[str, Any] = {"to": [_address(to, recipient.name)]}
    substitutions = recipient.substitutions
    if substitutions:
        if has_html_special("".join(substitutions.values())):
            try:
                substitutions = {
                    key: substitution_value(key, value) for key, value in substitutions.items()
                }
            except ValueError as exc:
                raise PermanentError(f"batch {batch_key}, recipient {index}: {exc}") from None
        entry["substitutions"] = substitutions
    if recipient.headers:
        entry["headers"] = recipient.headers
    if recipient.custom_args:
        entry["custom_args"] = recipient.custom_args
    return entry


def _content(batch_key: str, message: Message) -> list[dict[str, str]]:
    # SendGrid requires text/plain before text/html; an empty part is refused, so leave it out.
    parts = [
        {"type": kind, "value": value}
        for kind, value in (("text/plain", message.text), ("text/html", message.html))
        if value
    ]
    if not parts:
        raise PermanentError(f"batch {batch_key}: the message has neither text nor HTML")
    return parts


class SendGridSender:
    """Sends batches through the SendGrid v3 Mail Send API (``EmailSender``)."""

    def __init__(
        self,
        api_key: str,
        *,
        host: str,
        timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not api_key:
            # The client would silently fall back to $SENDGRID_API_KEY; we never read the env here.
            raise ConfigError("NEWSLETTER_SENDGRID_API_KEY: must not be empty")
        if not timeout > 0:
            # python_http_client treats a falsy timeout as "none": a hung server would hang us.
            raise ConfigError(f"NEWSLETTER_SENDGRID_TIMEOUT: must be positive, got {timeout}")
        self.host = host.rstrip("/")
        self.timeout = timeout
        self._clock = clock
        self._client = SendGridAPIClient(api_key, host=self.host)
        # Set on the client too, so every URL builder derived from it inherits the timeout.
        self._client.client.timeout = timeout

    def send_batch(self, batch: Batch) -> SendResult:
        """Send one batch; 2xx → ``SendResult``, otherwise a retryable or permanent error."""
        body = encode_payload(batch, build_payload(batch))
        response = self._call(
            f"batch {batch.key}",
            lambda: self._client.client.mail.send.post(
                request_body=body,
                request_headers={"Content-Type": JSON_CONTENT_TYPE},
                timeout=self.timeout,
            ),
            batch=batch,
        )
        return SendResult(provider_id=str(response.headers.get("X-Message-Id", "")))

    def create_batch_id(self) -> str:
        """``POST /v3/mail/batch``: a new batch id for scheduled, cancellable requests."""
        response = self._call(
            "a new batch id", lambda: self._client.client.mail.batch.post(timeout=self.timeout)
        )
        batch_id = _json_field(response.body, "batch_id")
        if not batch_id:
            raise PermanentError(f"SendGrid at {self.host} answered a new batch id without one")
        return batch_id

    def cancel_batch(self, batch_id: str) -> None:
        """``POST /v3/user/scheduled_sends``: SendGrid discards the batch's mail at its send_at."""
        body = json.dumps({"batch_id": batch_id, "status": "cancel"})
        self._call(
            f"the cancel of batch id {batch_id}",
            lambda: self._client.client.user.scheduled_sends.post(
                request_body=body,
                request_headers={"Content-Type": JSON_CONTENT_TYPE},
                timeout=self.timeout,
            ),
        )

    def batch_status(self, batch_id: str) -> str | None:
        """``GET /v3/user/scheduled_sends/{batch_id}``: "cancel", "pause" or None."""
        try:
            response = self._call(
                f"the status of batch id {batch_id}",
                lambda: self._client.client.user.scheduled_sends._(batch_id).get(
                    timeout=self.timeout
                ),
            )
        except PermanentError as exc:
            if exc.status == 404:
                return None  # no cancel or pause recorded for this batch id
            raise
        try:
            entries = json.loads(response.body or b"[]")
        except ValueError:
            raise RetryableError(f"SendGrid at {self.host}: batch status is not JSON") from None
        for entry in entries if isinstance(entries, list) else [entries]:
            if isinstance(entry, dict) and entry.get("batch_id") == batch_id:
                status = entry.get("status")
                return str(status) if status else None
        return None

    def lift_batch(self, batch_id: str) -> None:
        """``DELETE /v3/user/scheduled_sends/{batch_id}``: remove its cancel or pause."""
        try:
            self._call(
                f"lifting batch id {batch_id}",
                lambda: self._client.client.user.scheduled_sends._(batch_id).delete(
                    timeout=self.timeout
                ),
            )
        except PermanentError as exc:
            if exc.status != 404:  # nothing to lift is what we wanted
                raise

    def _call(self, what: str, request: Callable[[], Any], *, batch: Batch | None = None) -> Any:
        """Make one API request, turning every failure into our error types."""
        where = f"{what} to SendGrid at {self.host}"
        try:
            return request()
        except HTTPError as exc:
            raise self._http_error(what, exc, batch) from None
        except urllib.error.URLError as exc:
            # urllib wraps failures while connecting or writing: the request never arrived whole.
            raise RetryableError(f"{where}: could not send: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            # Raised while waiting for or reading the answer: SendGrid may have acted on it.
            reason = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
            raise OutcomeUnknownError(f"{where}: no answer ({reason})") from None

    def _http_error(self, what: str, exc: HTTPError, batch: Batch | None) -> Exception:
        status = int(exc.status_code)
        errors = _error_list(exc.body)
        summary = "; ".join(
            f"{message} (field {field})" if field else message for message, field in errors
        )
        text = f"SendGrid refused {what} (HTTP {status}): {summary or exc.reason}"
        if status == 429:
            return RetryableError(text, retry_after=self._retry_after(exc.headers))
        if status >= 500:
            return RetryableError(text)
        if status == 400 and batch is not None:
            rejected = _rejected_recipients(batch, errors)
            if rejected:
                return RecipientsRejected(text, rejected=rejected)
        return PermanentError(text, status=status)

    def _retry_after(self, headers: Any) -> float | None:
        reset = headers.get("X-RateLimit-Reset") if headers is not None else None
        try:
            return max(0.0, float(reset) - self._clock()) if reset else None
        except ValueError:
            return None


def _json_field(body: bytes | str | None, name: str) -> str:
    """One string field of a JSON object body ("" if the body is not that)."""
    try:
        data = json.loads(body or b"")
    except ValueError:
        return ""
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


def _error_list(body: bytes | str | None) -> list[tuple[str, str]]:
    """SendGrid's ``errors[]`` as (message, field) pairs; empty if the body is not that."""
    try:
        data = json.loads(body or b"")
    except ValueError:
        return []
    items = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [
        (str(item.get("message") or ""), str(item.get("field") or ""))
        for item in items
        if isinstance(item, dict)
    ]


def _rejected_recipients(batch: Batch, errors: list[tuple[str, str]]) -> dict[str, str]:
    """Address → reason when every error names a recipient; otherwise empty."""
    rejected: dict[str, str] = {}
    for message, field in errors:
        match = _RECIPIENT_FIELD.match(field)
        if match is None or int(match.group(1)) >= len(batch.recipients):
            return {}
        rejected[batch.recipients[int(match.group(1))].email] = message
    return rejected
