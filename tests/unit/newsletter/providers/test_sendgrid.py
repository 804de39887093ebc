"""The SendGrid adapter: the request it builds and how it reads every kind of answer."""

from __future__ import annotations

import http.client
import json
import urllib.error
from email.message import Message as HeaderMap
from typing import Any

import pytest
from python_http_client import client as http_client_module
from python_http_client.exceptions import HTTPError

from newsletter.errors import (
    ConfigError,
    OutcomeUnknownError,
    PermanentError,
    RecipientsRejected,
    RetryableError,
)
from newsletter.providers.interfaces import Batch, EmailSender, Message, Recipient
from newsletter.providers.sendgrid import (
    MAX_REQUEST_BYTES,
    SendGridSender,
    build_payload,
    encode_payload,
    substitution_value,
)
from newsletter.render import placeholders


def message(**changes: Any) -> Message:
    """A small message shared by a batch."""
    fields: dict[str, Any] = {
        "from_email": "desk@paper.example",
        "from_name": "The Morning Desk",
        "subject": "Tuesday's briefing",
        "text": f"Hello {placeholders.NAME}. Leave: {placeholders.UNSUBSCRIBE_URL}",
        "html": f'<p>Hello {placeholders.NAME}</p><a href="{placeholders.UNSUBSCRIBE_URL}">x</a>',
    }
    fields.update(changes)
    return Message(**fields)


def recipient(n: int, **changes: Any) -> Recipient:
    """Recipient number ``n`` with personal links and ids."""
    fields: dict[str, Any] = {
        "email": f"reader{n}@mail.example",
        "name": f"Reader {n}",
        "substitutions": {
            placeholders.NAME: f"Reader {n}",
            placeholders.UNSUBSCRIBE_URL: f"https://paper.example/u/tok{n}",
        },
        "headers": {
            "List-Unsubscribe": f"<https://paper.example/u/one-click/tok{n}>, "
            f"<mailto:unsubscribe@paper.example?subject=tok{n}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "custom_args": {"subscriber_id": str(n), "batch_id": "7"},
    }
    fields.update(changes)
    return Recipient(**fields)


def batch(count: int = 2, **changes: Any) -> Batch:
    """A batch of ``count`` recipients."""
    return Batch("edition-3-batch-7", message(**changes), tuple(recipient(n) for n in range(count)))


def test_one_personalization_per_recipient_with_its_own_values() -> None:
    """Each recipient gets its own personalization: to, substitutions, headers, custom_args."""
    payload = build_payload(batch(2))
    first = payload["personalizations"][0]
    assert len(payload["personalizations"]) == 2
    assert first["to"] == [{"email": "reader0@mail.example", "name": "Reader 0"}]
    assert first["substitutions"][placeholders.UNSUBSCRIBE_URL] == "https://paper.example/u/tok0"
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "mailto:" in first["headers"]["List-Unsubscribe"]
    assert first["custom_args"] == {"subscriber_id": "0", "batch_id": "7"}


def test_message_level_fields_and_text_before_html() -> None:
    """From, reply-to, subject, categories and custom_args are set once; text/plain comes first."""
    payload = build_payload(
        batch(1, reply_to="letters@paper.example", categories=("daily", "ed-3"),
              custom_args={"edition_id": "3"}, headers={"X-Edition": "3"})
    )  # fmt: skip
    assert payload["from"] == {"email": "desk@paper.example", "name": "The Morning Desk"}
    assert payload["reply_to"] == {"email": "letters@paper.example"}
    assert payload["subject"] == "Tuesday's briefing"
    assert [part["type"] for part in payload["content"]] == ["text/plain", "text/html"]
    assert payload["categories"] == ["daily", "ed-3"]
    assert payload["custom_args"] == {"edition_id": "3"}
    assert payload["headers"] == {"X-Edition": "3"}


def test_optional_fields_are_left_out_when_empty() -> None:
    """No name, reply-to, headers, categories or custom args means no such keys at all."""
    bare = Batch("b", message(from_name=""), (Recipient("solo@mail.example"),))
    payload = build_payload(bare)
    assert payload["from"] == {"email": "desk@paper.example"}
    assert payload["personalizations"] == [{"to": [{"email": "solo@mail.example"}]}]
    assert not {"reply_to", "headers", "categories", "custom_args"} & payload.keys()


def test_tracking_follows_the_message_and_sendgrid_unsubscribe_is_off() -> None:
    """Open and click tracking follow the publication; SendGrid's own unsubscribe stays off."""
    off = build_payload(batch(1))["tracking_settings"]
    on = build_payload(batch(1, track_opens=True, track_clicks=True))["tracking_settings"]
    assert off["open_tracking"] == {"enable": False}
    assert off["click_tracking"]["enable"] is False
    assert on["open_tracking"] == {"enable": True}
    assert on["click_tracking"] == {"enable": True, "enable_text": False}
    assert on["subscription_tracking"] == {"enable": False}


def test_an_empty_part_is_left_out_and_no_parts_is_refused() -> None:
    """An empty text part is omitted; a message with no content at all is a permanent error."""
    assert [p["type"] for p in build_payload(batch(1, text=""))["content"]] == ["text/html"]
    with pytest.raises(PermanentError, match="edition-3-batch-7: the message has neither"):
        build_payload(batch(1, text="", html=""))


def test_more_than_ten_categories_is_refused() -> None:
    """SendGrid allows ten categories; an eleventh is refused before any request."""
    with pytest.raises(PermanentError, match="11 categories"):
        build_payload(batch(1, categories=tuple(f"c{n}" for n in range(11))))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ana", "Ana"),
        ("O'Brien", "O’Brien"),
        ('Tom "T" & <Co>', "Tom ”T” ＆ ‹Co›"),
    ],
)
def test_names_lose_html_special_characters_for_lookalikes(value: str, expected: str) -> None:
    """A name substitution reads the same in text and HTML: special characters become lookalikes."""
    assert substitution_value(placeholders.NAME, value) == expected


def test_a_url_with_html_special_characters_is_refused() -> None:
    """A URL substitution with & or quotes cannot suit both parts, so the batch is refused."""
    assert substitution_value(placeholders.VIEW_URL, "https://p.example/e/1") == (
        "https://p.example/e/1"
    )
    bad = recipient(4, substitutions={placeholders.VIEW_URL: "https://p.example/?a=1&b=2"})
    with pytest.raises(PermanentError, match=r"recipient 0: %%view_url%% must not contain"):
        build_payload(Batch("k", message(), (bad,)))


def test_encode_payload_is_what_goes_on_the_wire() -> None:
    """The encoded body is the JSON the client sends."""
    sample = batch(1)
    payload = build_payload(sample)
    assert json.loads(encode_payload(sample, payload)) == payload


def test_encoded_body_is_utf8_json_even_for_names_no_utf8_can_hold() -> None:
    """Non-ASCII travels as UTF-8; a lone surrogate falls back to escapes instead of failing."""
    for name in ("Zoë Ångström 東京", "broken \ud800 name"):
        sample = Batch("k", message(), (recipient(1, name=name),))
        payload = build_payload(sample)
        body = encode_payload(sample, payload)
        assert json.loads(body) == payload
        assert body.encode("utf-8")  # what the client sends: encodable, whatever the name
    assert "Zoë" in encode_payload(sample, {"name": "Zoë"})


def test_the_size_limit_counts_bytes_not_characters() -> None:
    """A body under 30 M characters but over 30 MB of UTF-8 is refused."""
    wide = batch(1, html="é" * (MAX_REQUEST_BYTES // 2 + 1))
    assert len(json.dumps(build_payload(wide), ensure_ascii=False)) < MAX_REQUEST_BYTES
    with pytest.raises(PermanentError, match="batch edition-3-batch-7: request is"):
        encode_payload(wide, build_payload(wide))


def test_a_request_of_30_mb_is_refused_naming_the_batch() -> None:
    """A request body of 30 MB or more is refused before sending, naming the batch key."""
    big = batch(1, html="x" * MAX_REQUEST_BYTES)
    with pytest.raises(PermanentError, match="batch edition-3-batch-7: request is"):
        encode_payload(big, build_payload(big))


def test_sender_needs_a_key_and_a_positive_timeout() -> None:
    """An empty API key or a timeout that is not positive is a configuration error."""
    with pytest.raises(ConfigError, match="NEWSLETTER_SENDGRID_API_KEY"):
        SendGridSender("", host="https://api.sendgrid.com", timeout=5)
    with pytest.raises(ConfigError, match="NEWSLETTER_SENDGRID_TIMEOUT"):
        SendGridSender("SG.k", host="https://api.sendgrid.com", timeout=0)


class FakeResponse:
    """What urllib's opener returns, as python_http_client reads it."""

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = _headers(headers)

    def getcode(self) -> int:
        """The status code."""
        return self.status

    def read(self) -> bytes:
        """An empty body, like SendGrid's 202."""
        return b""

    def info(self) -> HeaderMap:
        """The response headers."""
        return self.headers


def _headers(values: dict[str, str]) -> HeaderMap:
    headers = HeaderMap()
    for name, value in values.items():
        headers[name] = value
    return headers


class Wire:
    """Stands in for the network: answers with queued outcomes and records each call."""

    def __init__(self) -> None:
        self.outcomes: list[Any] = []
        self.calls: list[tuple[Any, float | None]] = []

    def answer(self, outcome: Any) -> None:
        """Queue a response object, or an exception to raise."""
        self.outcomes.append(outcome)

    def make_request(self, client: Any, opener: Any, request: Any, timeout: Any = None) -> Any:
        """Replacement for ``Client._make_request``."""
        self.calls.append((request, timeout))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    """python_http_client's documented test seam (``_make_request``), answered by a Wire."""
    fake = Wire()
    monkeypatch.setattr(
        http_client_module.Client,
        "_make_request",
        lambda client, opener, request, timeout=None: fake.make_request(
            client, opener, request, timeout
        ),
    )
    return fake


def sender(clock: float = 1_000.0) -> SendGridSender:
    """A sender whose clock reads ``clock``."""
    return SendGridSender("SG.key", host="https://sg.example/", timeout=2.5, clock=lambda: clock)


def http_error(status: int, body: Any, headers: dict[str, str] | None = None) -> HTTPError:
    """The exception python_http_client raises for an HTTP error answer."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HTTPError(status, "Reason", raw, _headers(headers or {}))


def errors(*pairs: tuple[str, str | None]) -> dict[str, Any]:
    """A SendGrid error body."""
    return {"errors": [{"message": m, "field": f, "help": None} for m, f in pairs]}


def test_sender_implements_the_protocol() -> None:
    """SendGridSender is an EmailSender."""
    assert isinstance(sender(), EmailSender)


def test_accepted_batch_returns_the_message_id_and_always_sets_a_timeout(wire: Wire) -> None:
    """A 202 gives the X-Message-Id; the request goes to /v3/mail/send with the timeout set."""
    wire.answer(FakeResponse(202, {"X-Message-Id": "abc123"}))
    result = sender().send_batch(batch(2))
    request, timeout = wire.calls[0]
    assert result.provider_id == "abc123"
    assert timeout == 2.5
    assert request.full_url == "https://sg.example/v3/mail/send"
    assert request.headers["Authorization"] == "Bearer SG.key"
    assert len(json.loads(request.data)["personalizations"]) == 2


def test_rate_limit_reports_seconds_until_the_reset(wire: Wire) -> None:
    """A 429 is retryable with retry_after = X-RateLimit-Reset minus now."""
    wire.answer(http_error(429, errors(("too many requests", None)), {"X-RateLimit-Reset": "1030"}))
    with pytest.raises(RetryableError) as caught:
        sender(clock=1_000.0).send_batch(batch(1))
    assert caught.value.retry_after == pytest.approx(30.0)
    assert "HTTP 429" in str(caught.value)


@pytest.mark.parametrize("reset", [None, "soon", "900"])
def test_rate_limit_without_a_usable_reset(wire: Wire, reset: str | None) -> None:
    """A missing or unreadable reset leaves retry_after empty; a past reset means retry now."""
    wire.answer(http_error(429, b"", {"X-RateLimit-Reset": reset} if reset else {}))
    with pytest.raises(RetryableError) as caught:
        sender(clock=1_000.0).send_batch(batch(1))
    assert caught.value.retry_after == (0.0 if reset == "900" else None)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(wire: Wire, status: int) -> None:
    """5xx answers are retryable errors that name the batch."""
    wire.answer(http_error(status, b"<html>oops</html>"))
    with pytest.raises(RetryableError, match=f"edition-3-batch-7 \\(HTTP {status}\\): Reason"):
        sender().send_batch(batch(1))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_client_errors_are_permanent_with_sendgrids_message(wire: Wire, status: int) -> None:
    """4xx answers other than 429 are permanent and carry SendGrid's messages and fields."""
    wire.answer(http_error(status, errors(("The from address is not verified.", "from"))))
    with pytest.raises(PermanentError) as caught:
        sender().send_batch(batch(1))
    assert type(caught.value) is PermanentError
    assert "The from address is not verified. (field from)" in str(caught.value)


def test_rejected_addresses_are_named_so_the_rest_can_be_resent(wire: Wire) -> None:
    """A 400 whose errors all name recipients raises RecipientsRejected with those addresses."""
    wire.answer(
        http_error(
            400,
            errors(
                ("Does not contain a valid address.", "personalizations.1.to.0.email"),
                ("Does not contain a valid address.", "personalizations.2.to"),
            ),
        )
    )
    with pytest.raises(RecipientsRejected) as caught:
        sender().send_batch(batch(3))
    assert caught.value.rejected == {
        "reader1@mail.example": "Does not contain a valid address.",
        "reader2@mail.example": "Does not contain a valid address.",
    }


@pytest.mark.parametrize(
    "body",
    [
        errors(("bad", "personalizations.1.to.0.email"), ("bad subject", "subject")),
        errors(("bad", "personalizations.9.to.0.email")),
        errors(("duplicate", "personalizations.0")),
        {"errors": "not a list"},
        ["not", "an", "object"],
    ],
)
def test_a_400_that_is_not_only_about_recipients_stays_plain(wire: Wire, body: Any) -> None:
    """If any error is not about a known recipient, the whole batch fails permanently."""
    wire.answer(http_error(400, body))
    with pytest.raises(PermanentError) as caught:
        sender().send_batch(batch(2))
    assert not isinstance(caught.value, RecipientsRejected)


def test_connection_failure_before_sending_is_retryable_and_known_unsent(wire: Wire) -> None:
    """A refused connection is a plain RetryableError: nothing reached SendGrid."""
    wire.answer(urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")))
    with pytest.raises(RetryableError, match="could not send") as caught:
        sender().send_batch(batch(1))
    assert not isinstance(caught.value, OutcomeUnknownError)


@pytest.mark.parametrize(
    "failure",
    [TimeoutError("timed out"), http.client.RemoteDisconnected("closed"), ConnectionResetError()],
)
def test_a_lost_answer_is_outcome_unknown(wire: Wire, failure: BaseException) -> None:
    """A timeout or dropped connection after sending raises OutcomeUnknownError."""
    wire.answer(failure)
    with pytest.raises(OutcomeUnknownError, match="no answer"):
        sender().send_batch(batch(1))
