"""Scheduled sends on the SendGrid test server, driven by the real ``sendgrid`` client over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from newsletter.sendgrid_testserver.server import SendGridTestServer

KEY = "SG.schedule-key"
T0 = 1_800_000_000.0  # the server's clock starts here; tests move it with ``advance``


class EventHook:
    """A webhook on 127.0.0.1 that keeps every event posted to it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.events.extend(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def kinds(self) -> list[tuple[str, str]]:
        """(event, email) pairs received, sorted."""
        return sorted((e["event"], e["email"]) for e in self.events)

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hook() -> Iterator[EventHook]:
    """A webhook receiver that records events."""
    receiver = EventHook()
    yield receiver
    receiver.close()


@pytest.fixture
def server(hook: EventHook) -> Iterator[SendGridTestServer]:
    """A test server on a frozen clock at T0, posting automatic events to ``hook``."""
    with SendGridTestServer(api_key=KEY, clock=lambda: T0, webhook_url=hook.url) as srv:
        yield srv


@pytest.fixture
def sg(server: SendGridTestServer) -> Any:
    """The real SendGrid client pointed at the server."""
    client = SendGridAPIClient(KEY, host=server.url)
    client.client.timeout = 10
    return client.client


def mail(*addresses: str, **extra: Any) -> dict[str, Any]:
    """A valid mail-send body to ``addresses`` (one personalization each)."""
    return {
        "personalizations": [{"to": [{"email": a}]} for a in addresses],
        "from": {"email": "desk@paper.example"},
        "subject": "Morning briefing",
        "content": [{"type": "text/plain", "value": "Hello"}],
        **extra,
    }


def refusal(call: Any) -> tuple[int, list[dict[str, Any]]]:
    """The status and SendGrid errors of a call expected to fail."""
    with pytest.raises(HTTPError) as caught:
        call()
    return caught.value.status_code, json.loads(caught.value.body)["errors"]


def new_batch(sg: Any) -> str:
    """A batch id created over HTTP."""
    response = sg.mail.batch.post()
    assert response.status_code == 201
    return str(json.loads(response.body)["batch_id"])


def set_status(sg: Any, batch_id: str, status: str) -> Any:
    """POST /v3/user/scheduled_sends."""
    return sg.user.scheduled_sends.post(request_body={"batch_id": batch_id, "status": status})


def test_a_batch_id_is_created_and_validated(sg: Any, server: SendGridTestServer) -> None:
    """POST /v3/mail/batch gives 201 and an id; GET validates it (200) or refuses (400)."""
    batch_id = new_batch(sg)
    assert batch_id.isalnum()
    found = sg.mail.batch._(batch_id).get()
    assert (found.status_code, json.loads(found.body)) == (200, {"batch_id": batch_id})
    status, errors = refusal(sg.mail.batch._("nope").get)
    assert (status, errors) == (400, [{"message": "invalid batch id", "field": None, "help": None}])
    wrong_key = SendGridAPIClient("SG.wrong", host=server.url).client
    assert refusal(wrong_key.mail.batch.post)[0] == 401


def test_send_at_bounds_are_sendgrids(sg: Any) -> None:
    """send_at up to 72 h ahead is accepted, beyond is refused, and it must be an integer."""
    limit = int(T0) + 72 * 3600
    assert sg.mail.send.post(request_body=mail("a@x.example", send_at=limit)).status_code == 202
    status, errors = refusal(
        lambda: sg.mail.send.post(request_body=mail("b@x.example", send_at=limit + 1))
    )
    assert (status, errors[0]["field"]) == (400, "send_at")
    assert errors[0]["message"] == "Scheduling more than 72 hours in advance is forbidden."
    late = mail("c@x.example")
    late["personalizations"][0]["send_at"] = limit + 1
    assert refusal(lambda: sg.mail.send.post(request_body=late))[1][0]["field"] == (
        "personalizations.0.send_at"
    )
    errors = refusal(lambda: sg.mail.send.post(request_body=mail("d@x.example", send_at="soon")))[1]
    assert "expecting a Unix timestamp as an integer" in errors[0]["message"]


def test_a_batch_id_must_be_one_the_server_made(sg: Any, server: SendGridTestServer) -> None:
    """An unknown batch_id is refused as invalid, a non-string one as not a string."""
    errors = refusal(lambda: sg.mail.send.post(request_body=mail("a@x.example", batch_id="zz")))[1]
    assert errors == [{"message": "invalid batch id", "field": "batch_id", "help": None}]
    errors = refusal(lambda: sg.mail.send.post(request_body=mail("a@x.example", batch_id=7)))[1]
    assert errors[0]["message"] == "The batch_id must be a string."
    assert server.accepted == []


def test_future_mail_is_held_until_send_at_and_only_then_gets_events(
    sg: Any, server: SendGridTestServer, hook: EventHook
) -> None:
    """Mail with a future send_at is accepted (202 + id), held, and released with its events."""
    answer = sg.mail.send.post(request_body=mail("a@x.example", send_at=int(T0) + 900))
    assert answer.status_code == 202
    assert answer.headers["X-Message-Id"] == server.accepted[0].message_id
    server.advance(899)
    assert server.wait_for_events(timeout=10)
    assert (server.accepted[0].status, server.held_count(), hook.events) == ("held", 1, [])
    assert server.delivered_recipients() == {}
    server.advance(1)
    assert server.wait_for_events(timeout=10)
    assert server.accepted[0].status == "released"
    assert server.delivered_recipients() == {"a@x.example": 1}
    assert hook.kinds() == [("delivered", "a@x.example"), ("processed", "a@x.example")]
    assert {e["timestamp"] for e in hook.events} == {int(T0) + 900}


def test_a_past_send_at_or_none_sends_at_once(sg: Any, server: SendGridTestServer) -> None:
    """A send_at in the past, or none, is released as soon as it is accepted."""
    sg.mail.send.post(request_body=mail("a@x.example", send_at=int(T0) - 60))
    sg.mail.send.post(request_body=mail("b@x.example"))
    assert [r.status for r in server.accepted] == ["released", "released"]
    assert server.delivered_recipients() == {"a@x.example": 1, "b@x.example": 1}


def test_each_personalization_is_due_at_its_own_send_at(
    sg: Any, server: SendGridTestServer, hook: EventHook
) -> None:
    """A personalization's send_at overrides the request's; events follow each release."""
    body = mail("now@x.example", "later@x.example", send_at=int(T0) + 1200)
    body["personalizations"][0]["send_at"] = int(T0)
    sg.mail.send.post(request_body=body)
    assert server.wait_for_events(timeout=10)
    assert server.accepted[0].status == "mixed"
    assert hook.kinds() == [("delivered", "now@x.example"), ("processed", "now@x.example")]
    assert [e["email"] for e in server.events("bounce")] == ["now@x.example"]
    server.advance(1200)
    assert server.wait_for_events(timeout=10)
    assert server.delivered_recipients() == {"now@x.example": 1, "later@x.example": 1}
    assert len(hook.events) == 4


def test_a_cancelled_batch_is_discarded_at_send_at(
    sg: Any, server: SendGridTestServer, hook: EventHook
) -> None:
    """Cancel answers 201 with the status, reads back, and its mail is discarded unsent."""
    batch_id = new_batch(sg)
    sg.mail.send.post(
        request_body=mail("a@x.example", "b@x.example", batch_id=batch_id, send_at=int(T0) + 900)
    )
    answer = set_status(sg, batch_id, "cancel")
    assert (answer.status_code, json.loads(answer.body)) == (
        201,
        {"batch_id": batch_id, "status": "cancel"},
    )
    read = sg.user.scheduled_sends._(batch_id).get()
    assert json.loads(read.body) == [{"batch_id": batch_id, "status": "cancel"}]
    server.advance(3600)
    assert server.wait_for_events(timeout=10)
    assert server.accepted[0].status == "discarded"
    assert server.delivered_recipients() == {}
    assert server.discarded_recipients() == {"a@x.example": 1, "b@x.example": 1}
    assert hook.events == []
    sg.mail.send.post(request_body=mail("c@x.example", batch_id=batch_id))
    assert server.accepted[1].status == "discarded"  # a cancelled batch sends nothing


def test_a_paused_batch_is_kept_past_send_at_and_released_on_delete(
    sg: Any, server: SendGridTestServer, hook: EventHook
) -> None:
    """A pause keeps mail past its send_at; DELETE lifts it, sending the mail with events."""
    batch_id = new_batch(sg)
    sg.mail.send.post(request_body=mail("a@x.example", batch_id=batch_id, send_at=int(T0) + 900))
    assert set_status(sg, batch_id, "pause").status_code == 201
    server.advance(7200)
    assert server.wait_for_events(timeout=10)
    assert (server.accepted[0].status, hook.events) == ("held", [])
    assert sg.user.scheduled_sends._(batch_id).delete().status_code == 204
    assert server.wait_for_events(timeout=10)
    assert server.delivered_recipients() == {"a@x.example": 1}
    assert hook.kinds() == [("delivered", "a@x.example"), ("processed", "a@x.example")]
    assert server.batch_statuses() == {}
    assert refusal(sg.user.scheduled_sends._(batch_id).get)[0] == 404


def test_paused_mail_expires_72_hours_after_send_at(sg: Any, server: SendGridTestServer) -> None:
    """Mail kept by a pause for 72 h after its send_at is discarded as expired."""
    batch_id = new_batch(sg)
    sg.mail.send.post(request_body=mail("a@x.example", batch_id=batch_id, send_at=int(T0) + 900))
    set_status(sg, batch_id, "pause")
    server.advance(900 + 72 * 3600 - 1)
    assert server.held_count() == 1
    server.advance(1)
    assert (server.held_count(), server.discarded_recipients()) == (0, {"a@x.example": 1})
    sg.user.scheduled_sends._(batch_id).delete()
    assert server.delivered_recipients() == {}


def test_patch_changes_a_status_and_unknown_ones_are_404(
    sg: Any, server: SendGridTestServer
) -> None:
    """PATCH turns a pause into a cancel (204); PATCH, GET or DELETE without a status is 404."""
    batch_id = new_batch(sg)
    sg.mail.send.post(request_body=mail("a@x.example", batch_id=batch_id, send_at=int(T0) + 900))
    set_status(sg, batch_id, "pause")
    patch = sg.user.scheduled_sends._(batch_id).patch(request_body={"status": "cancel"})
    assert patch.status_code == 204
    assert json.loads(sg.user.scheduled_sends.get().body) == [
        {"batch_id": batch_id, "status": "cancel"}
    ]
    server.advance(900)
    assert server.discarded_recipients() == {"a@x.example": 1}
    other = new_batch(sg)
    not_found = [{"message": "batch id not found", "field": None, "help": None}]
    for call in (
        sg.user.scheduled_sends._(other).get,
        sg.user.scheduled_sends._(other).delete,
        lambda: sg.user.scheduled_sends._(other).patch(request_body={"status": "pause"}),
    ):
        assert refusal(call) == (404, not_found)
    errors = refusal(
        lambda: sg.user.scheduled_sends._(batch_id).patch(request_body={"status": "stop"})
    )[1]
    assert errors[0]["field"] == "status"


def test_a_status_is_set_once_for_a_known_batch(sg: Any) -> None:
    """A second POST for the same batch, an unknown batch or a bad status gets SendGrid's 400."""
    batch_id = new_batch(sg)
    set_status(sg, batch_id, "cancel")
    status, errors = refusal(lambda: set_status(sg, batch_id, "pause"))
    assert (status, errors[0]["message"]) == (
        400,
        "a status for this batch id exists, try PATCH to update the status",
    )
    assert (
        refusal(lambda: set_status(sg, "unknown", "cancel"))[1][0]["message"] == "invalid batch id"
    )
    assert refusal(lambda: set_status(sg, new_batch(sg), "resume"))[1][0]["field"] == "status"


def test_at_most_ten_batches_are_cancelled_or_paused_at_once(sg: Any) -> None:
    """The eleventh cancel is refused with "max limit reached" until a status is deleted."""
    batches = [new_batch(sg) for _ in range(11)]
    for n, batch_id in enumerate(batches[:10]):
        set_status(sg, batch_id, "cancel" if n % 2 else "pause")
    status, errors = refusal(lambda: set_status(sg, batches[10], "cancel"))
    assert (status, errors) == (
        400,
        [{"message": "max limit reached", "field": None, "help": None}],
    )
    assert len(json.loads(sg.user.scheduled_sends.get().body)) == 10
    sg.user.scheduled_sends._(batches[0]).delete()
    assert set_status(sg, batches[10], "cancel").status_code == 201


def test_cancel_or_pause_is_refused_within_ten_minutes_of_send_at(
    sg: Any, server: SendGridTestServer
) -> None:
    """A batch's send_at is its earliest message's; a status may be set until 10 min before it."""
    batch_id = new_batch(sg)
    for offset in (1500, 700):
        body = mail(f"r{offset}@x.example", batch_id=batch_id, send_at=int(T0) + offset)
        sg.mail.send.post(request_body=body)
    assert server.batch_send_at(batch_id) == T0 + 700
    server.advance(100)  # exactly 10 minutes before: still allowed
    assert set_status(sg, batch_id, "pause").status_code == 201
    server.advance(1)
    status, errors = refusal(
        lambda: sg.user.scheduled_sends._(batch_id).patch(request_body={"status": "cancel"})
    )
    assert (status, errors[0]["field"]) == (400, "batch_id")
    assert "10 minutes" in errors[0]["message"]
    late = new_batch(sg)
    sg.mail.send.post(request_body=mail("z@x.example", batch_id=late, send_at=int(T0) + 600))
    assert refusal(lambda: set_status(sg, late, "cancel"))[0] == 400
    assert set_status(sg, new_batch(sg), "cancel").status_code == 201  # no messages: no deadline
