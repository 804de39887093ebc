"""Faults of the SendGrid test server, seen by the real ``sendgrid`` client over HTTP."""

from __future__ import annotations

import errno
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from newsletter.sendgrid_testserver.server import Endpoint, Fault, SendGridTestServer

KEY = "SG.fault-key"
T0 = 1_800_000_000.0


def client(server: SendGridTestServer, timeout: float = 10) -> Any:
    """The real SendGrid client for ``server``, with ``timeout``."""
    sg = SendGridAPIClient(KEY, host=server.url)
    sg.client.timeout = timeout
    return sg.client


def mail(address: str, **extra: Any) -> dict[str, Any]:
    """A valid mail-send body to ``address``."""
    return {
        "personalizations": [{"to": [{"email": address}]}],
        "from": {"email": "desk@paper.example"},
        "subject": "Briefing",
        "content": [{"type": "text/plain", "value": "Hello"}],
        **extra,
    }


def failure(call: Callable[[], Any]) -> BaseException:
    """The exception a call raises that never got an HTTP answer (refused, dropped, timed out)."""
    with pytest.raises((OSError, http.client.HTTPException)) as caught:
        call()
    return caught.value


def status_of(call: Callable[[], Any]) -> int:
    """The HTTP status a call got, error or not."""
    try:
        return int(call().status_code)
    except HTTPError as exc:
        return int(exc.status_code)


def wait_until(check: Callable[[], bool], timeout: float = 20) -> None:
    """Poll ``check`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class Hook:
    """A webhook on 127.0.0.1 recording each event with the monotonic time it arrived."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                hook.arrivals.extend((now, event) for event in json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    """A recording webhook."""
    receiver = Hook()
    yield receiver
    receiver.httpd.shutdown()
    receiver.httpd.server_close()


@pytest.fixture
def server() -> Iterator[SendGridTestServer]:
    """A test server on a frozen clock at T0."""
    with SendGridTestServer(api_key=KEY, clock=lambda: T0) as srv:
        yield srv


def test_refused_connections_then_the_same_port_listens_again(server: SendGridTestServer) -> None:
    """During an outage a client gets ECONNREFUSED; afterwards the same URL answers again."""
    sg = client(server)
    url = server.url
    server.refuse_connections(2)
    assert server.refusing
    refused = failure(sg.mail.batch.post)
    assert isinstance(refused, urllib.error.URLError)
    assert getattr(refused.reason, "errno", None) == errno.ECONNREFUSED
    assert server.wait_listening(timeout=30)
    assert not server.refusing
    assert server.url == url
    assert sg.mail.batch.post().status_code == 201
    assert server.rejected == []


def test_rate_limit_for_a_period_gives_429_with_the_reset_time(server: SendGridTestServer) -> None:
    """Requests in the period get 429, X-RateLimit-Reset naming its end on the server clock."""
    sg = client(server)
    server.rate_limit(60)
    with pytest.raises(HTTPError) as caught:
        sg.mail.send.post(request_body=mail("a@x.example"))
    assert caught.value.status_code == 429
    reset = int(caught.value.headers["X-RateLimit-Reset"])
    assert T0 + 50 < reset <= T0 + 60
    assert status_of(sg.mail.batch.post) == 429
    server.clear_faults()
    assert status_of(sg.mail.batch.post) == 201
    server.rate_limit(0.2, on=Endpoint.MAIL_SEND)
    assert status_of(sg.mail.batch.post) == 201  # another endpoint: unaffected
    wait_until(
        lambda: status_of(lambda: sg.mail.send.post(request_body=mail("b@x.example"))) == 202
    )
    assert server.delivered_recipients() == {"b@x.example": 1}


def test_server_errors_can_hit_the_scheduled_sends_api_alone(server: SendGridTestServer) -> None:
    """A 5xx period on scheduled sends refuses cancels (nothing set) while mail still goes."""
    sg = client(server)
    batch_id = json.loads(sg.mail.batch.post().body)["batch_id"]
    server.fault_for(Fault.SERVER_ERROR, 60, on=Endpoint.SCHEDULED_SENDS)
    cancel = {"batch_id": batch_id, "status": "cancel"}
    assert status_of(lambda: sg.user.scheduled_sends.post(request_body=cancel)) == 500
    assert server.batch_statuses() == {}
    assert sg.mail.send.post(request_body=mail("a@x.example")).status_code == 202
    assert [(r.status, r.endpoint) for r in server.rejected] == [(500, "scheduled_sends")]


def test_a_lost_answer_to_a_cancel_still_cancels(server: SendGridTestServer) -> None:
    """When the answer to a cancel is dropped, the cancel holds and reads back."""
    sg = client(server)
    batch_id = json.loads(sg.mail.batch.post().body)["batch_id"]
    sg.mail.send.post(request_body=mail("a@x.example", batch_id=batch_id, send_at=int(T0) + 900))
    server.inject(Fault.DROP_AFTER_ACCEPT, on=Endpoint.SCHEDULED_SENDS)
    failure(
        lambda: sg.user.scheduled_sends.post(
            request_body={"batch_id": batch_id, "status": "cancel"}
        )
    )
    assert server.batch_statuses() == {batch_id: "cancel"}
    assert json.loads(sg.user.scheduled_sends._(batch_id).get().body)[0]["status"] == "cancel"
    server.advance(900)
    assert server.discarded_recipients() == {"a@x.example": 1}


def test_a_scheduled_send_whose_answer_is_lost_is_still_held_and_released(
    server: SendGridTestServer,
) -> None:
    """A scheduled mail send accepted, its answer dropped, still goes out at its send_at."""
    sg = client(server)
    server.inject(Fault.DROP_AFTER_ACCEPT)
    failure(lambda: sg.mail.send.post(request_body=mail("a@x.example", send_at=int(T0) + 600)))
    assert [r.status for r in server.accepted] == ["held"]
    server.advance(600)
    assert server.delivered_recipients() == {"a@x.example": 1}


def test_a_late_answer_comes_after_the_client_gave_up_but_the_mail_went(
    server: SendGridTestServer,
) -> None:
    """LATE_ANSWER accepts and releases at once, but answers after the client's timeout."""
    sg = client(server, timeout=0.3)
    server.inject(Fault.LATE_ANSWER(30))
    started = time.monotonic()
    failure(lambda: sg.mail.send.post(request_body=mail("a@x.example")))
    assert time.monotonic() - started < 20
    wait_until(lambda: server.delivered_recipients() == {"a@x.example": 1})
    assert server.accepted[0].status == "released"


def test_slow_answers_on_batch_creation(server: SendGridTestServer) -> None:
    """SLOW delays the handling and the answer of the endpoint it targets."""
    sg = client(server)
    server.inject(Fault.SLOW(0.3), on=Endpoint.MAIL_BATCH)
    started = time.monotonic()
    assert sg.mail.batch.post().status_code == 201
    assert time.monotonic() - started >= 0.3


def test_events_are_posted_late_by_event_delay(hook: Hook) -> None:
    """With event_delay, no event of released mail reaches the webhook sooner than the delay."""
    with SendGridTestServer(api_key=KEY, webhook_url=hook.url, event_delay=0.5) as srv:
        started = time.monotonic()
        client(srv).mail.send.post(request_body=mail("a@x.example"))
        assert srv.wait_for_events(timeout=30)
    assert len(hook.arrivals) == 2
    assert min(arrived for arrived, _ in hook.arrivals) - started >= 0.5


def test_dropped_events_are_never_posted(hook: Hook) -> None:
    """With event_drop_rate 1 the mail is released but no event post is even queued."""
    with SendGridTestServer(api_key=KEY, webhook_url=hook.url, event_drop_rate=1.0) as srv:
        client(srv).mail.send.post(request_body=mail("a@x.example"))
        assert srv.wait_for_events(timeout=10)
    assert (srv.events_dropped, srv.event_stats.queued, hook.arrivals) == (2, 0, [])
    assert srv.delivered_recipients() == {"a@x.example": 1}


def test_event_drops_are_reproducible_with_a_seed() -> None:
    """The same seed and drop rate drop the same event posts."""

    def posted() -> set[tuple[str, str]]:
        receiver = Hook()
        try:
            with SendGridTestServer(
                api_key=KEY, webhook_url=receiver.url, event_drop_rate=0.5, seed=3
            ) as srv:
                for n in range(8):
                    client(srv).mail.send.post(request_body=mail(f"r{n}@x.example"))
                assert srv.wait_for_events(timeout=30)
        finally:
            receiver.httpd.shutdown()
            receiver.httpd.server_close()
        assert srv.events_dropped + srv.event_stats.queued == 16
        return {(event["event"], event["email"]) for _, event in receiver.arrivals}

    first = posted()
    assert first == posted()
    assert 0 < len(first) < 16


def test_stopping_drops_events_held_back_by_event_delay(hook: Hook) -> None:
    """Stopping does not wait for late events: they are given up and never posted."""
    with SendGridTestServer(api_key=KEY, webhook_url=hook.url, event_delay=600) as srv:
        client(srv).mail.send.post(request_body=mail("a@x.example"))
        started = time.monotonic()
    assert time.monotonic() - started < 10
    assert (srv.event_stats.given_up, srv.event_stats.pending, hook.arrivals) == (2, 0, [])


def test_random_late_answers_are_reproducible_with_a_seed() -> None:
    """Random faults drawn from a chosen set follow the seed."""

    def outcomes() -> list[str]:
        faults = (Fault.LATE_ANSWER(5), Fault.SERVER_ERROR)
        with SendGridTestServer(api_key=KEY, fault_rate=0.5, seed=4, random_faults=faults) as srv:
            sg = client(srv, timeout=0.3)
            seen = []
            for n in range(8):
                try:
                    seen.append(
                        str(
                            status_of(
                                lambda n=n: sg.mail.send.post(request_body=mail(f"r{n}@x.example"))
                            )
                        )
                    )
                except OSError:
                    seen.append("timeout")
            return seen

    first = outcomes()
    assert first == outcomes()
    assert {"202", "500", "timeout"} <= set(first)


def test_controls_over_http_move_the_clock_and_set_faults(server: SendGridTestServer) -> None:
    """/_test/clock, /_test/faults and /_test/state drive a server from another process."""
    sg = client(server)

    def control(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(server.url + path, data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    sg.mail.send.post(request_body=mail("a@x.example", send_at=int(T0) + 900))
    assert control("GET", "/_test/clock") == (200, {"now": T0, "offset": 0.0})
    assert control("POST", "/_test/clock", {"advance": 900}) == (
        200,
        {"now": T0 + 900, "offset": 900.0},
    )
    status, state = control("GET", "/_test/state")
    assert (status, state["released"], state["held"], state["accepted"]) == (
        200,
        {"a@x.example": 1},
        0,
        1,
    )
    assert (
        control("POST", "/_test/faults", {"inject": {"kind": "server_error", "count": 1}})[0] == 200
    )
    assert status_of(lambda: sg.mail.send.post(request_body=mail("b@x.example"))) == 500
    control("POST", "/_test/faults", {"rate_limit_for": 60})
    assert status_of(sg.mail.batch.post) == 429
    control("POST", "/_test/faults", {"clear": True, "event_delay": 2, "event_drop_rate": 0.25})
    assert (server.event_delay, server.event_drop_rate) == (2.0, 0.25)
    assert status_of(sg.mail.batch.post) == 201
    control("POST", "/_test/faults", {"server_error_for": 60})
    assert status_of(sg.mail.batch.post) == 500
    assert control("POST", "/_test/clock", {"advance": -1})[0] == 400
    assert control("POST", "/_test/faults", {"inject": {"kind": "meteor"}})[0] == 400
    assert control("POST", "/_test/faults", {"inject": "late"})[0] == 400
    assert control("POST", "/_test/faults", {"event_drop_rate": 3})[0] == 400
    assert control("GET", "/_test/nothing")[0] == 404
    assert control("POST", "/_test/clock", [1])[0] == 400
    control("POST", "/_test/faults", {"refuse_for": 1})
    assert server.refusing
    assert server.wait_listening(timeout=30)


def test_fault_arguments_are_checked() -> None:
    """Nonsense delays, rates, periods and an outage before start are refused."""
    with pytest.raises(ValueError, match="event_drop_rate"):
        SendGridTestServer(event_drop_rate=2)
    with pytest.raises(ValueError, match="event_delay"):
        SendGridTestServer(event_delay=-1)
    with pytest.raises(ValueError, match="random_faults"):
        SendGridTestServer(fault_rate=0.5, random_faults=())
    with pytest.raises(ValueError, match="fault delay"):
        Fault.LATE_ANSWER(-1)
    server = SendGridTestServer()
    with pytest.raises(RuntimeError, match="not running"):
        server.refuse_connections(1)
    with pytest.raises(ValueError, match="advance"):
        server.advance(-5)
    with pytest.raises(ValueError, match="for_seconds"):
        server.rate_limit(0)


def test_an_outage_can_be_extended_and_stopping_ends_it() -> None:
    """A second refusal extends the outage; stopping during one returns promptly, port freed."""
    server = SendGridTestServer(api_key=KEY).start()
    server.refuse_connections(60)
    server.refuse_connections(120)
    assert not server.wait_listening(timeout=0.05)
    with pytest.raises(ValueError, match="for_seconds"):
        server.refuse_connections(0)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 10
    assert not server.wait_listening(timeout=1)
