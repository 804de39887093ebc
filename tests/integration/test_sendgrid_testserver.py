"""The real SendGridSender against the real SendGrid test server, over HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from newsletter.delivery.webhook import ProviderEvent, parse_events, verify_event_request
from newsletter.errors import (
    InvalidInputError,
    OutcomeUnknownError,
    PermanentError,
    RecipientsRejected,
    RetryableError,
    VerificationError,
)
from newsletter.providers.interfaces import Batch, Message, Recipient
from newsletter.providers.sendgrid import SendGridSender
from newsletter.providers.webhook_protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER, EventKind
from newsletter.sendgrid_testserver.events import EventPoster, generate_signing_key
from newsletter.sendgrid_testserver.server import Fault, SendGridTestServer

KEY = "SG.integration-key"


def batch(*addresses: str, key: str = "ed-9-b-1") -> Batch:
    """A batch to ``addresses`` with the ids dispatch puts in custom_args."""
    message = Message(
        from_email="desk@paper.example",
        from_name="Desk",
        subject="Morning briefing",
        text="Read it: %%view_url%%",
        html='<p><a href="https://paper.example/p/daily/">Read it</a></p>',
        categories=("daily",),
        custom_args={"edition_id": "9", "batch_id": "1"},
    )
    recipients = tuple(
        Recipient(
            address,
            substitutions={"%%view_url%%": "https://paper.example/p/daily/"},
            custom_args={"subscriber_id": str(n)},
        )
        for n, address in enumerate(addresses)
    )
    return Batch(key, message, recipients)


@pytest.fixture
def server() -> Iterator[SendGridTestServer]:
    """A running test server that refuses one address, as SendGrid refuses a bad one."""
    with SendGridTestServer(api_key=KEY, invalid_addresses=["bounce-me@mail.example"]) as srv:
        yield srv


def sender_for(server: SendGridTestServer, *, key: str = KEY, timeout: float = 5.0) -> Any:
    """The production adapter pointed at the test server."""
    return SendGridSender(key, host=server.url, timeout=timeout)


def test_an_accepted_batch_is_recorded_with_its_message_id(server: SendGridTestServer) -> None:
    """A valid batch gets 202; the server records the exact request under the X-Message-Id."""
    result = sender_for(server).send_batch(batch("a@mail.example", "b@mail.example"))
    (accepted,) = server.accepted
    assert result.provider_id == accepted.message_id != ""
    assert accepted.recipients == ["a@mail.example", "b@mail.example"]
    assert accepted.payload["custom_args"] == {"edition_id": "9", "batch_id": "1"}


def test_rate_limit_gives_the_seconds_until_reset(server: SendGridTestServer) -> None:
    """An injected 429 with a reset in 30 s surfaces as RetryableError.retry_after ≈ 30."""
    server.inject(Fault.RATE_LIMIT, count=1, reset_in=30)
    with pytest.raises(RetryableError) as caught:
        sender_for(server).send_batch(batch("a@mail.example"))
    assert caught.value.retry_after is not None
    assert 28 <= caught.value.retry_after <= 31
    assert server.accepted == []
    assert [r.status for r in server.rejected] == [429]


def test_server_error_is_retryable_and_the_retry_goes_through(server: SendGridTestServer) -> None:
    """A 500 is retryable; sending again goes through and the batch is accepted exactly once."""
    server.inject(Fault.SERVER_ERROR, count=2)
    sender, request = sender_for(server), batch("a@mail.example")
    for _ in range(2):
        with pytest.raises(RetryableError):
            sender.send_batch(request)
    result = sender.send_batch(request)
    assert [r.message_id for r in server.accepted] == [result.provider_id]


def test_a_slow_answer_times_out_as_outcome_unknown(server: SendGridTestServer) -> None:
    """A server slower than the timeout gives a retryable OutcomeUnknownError, on time."""
    server.inject(Fault.SLOW(30))
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError, match="timed out"):
        sender_for(server, timeout=0.3).send_batch(batch("a@mail.example"))
    assert time.monotonic() - started < 5


def test_a_slow_answer_within_the_timeout_is_accepted(server: SendGridTestServer) -> None:
    """A delay shorter than the timeout is just a slow success."""
    server.inject(Fault.SLOW(0.05))
    assert sender_for(server).send_batch(batch("a@mail.example")).provider_id


def test_drop_after_accept_is_outcome_unknown_but_was_accepted(server: SendGridTestServer) -> None:
    """A connection closed after acceptance raises OutcomeUnknownError; the server kept the mail."""
    server.inject(Fault.DROP_AFTER_ACCEPT)
    with pytest.raises(OutcomeUnknownError) as caught:
        sender_for(server).send_batch(batch("a@mail.example"))
    assert isinstance(caught.value, RetryableError)
    assert len(server.accepted) == 1


def test_drop_before_accept_is_outcome_unknown_and_nothing_kept(server: SendGridTestServer) -> None:
    """A connection dropped before acceptance looks the same to the client; nothing is recorded."""
    server.inject(Fault.DROP_BEFORE_ACCEPT)
    with pytest.raises(OutcomeUnknownError):
        sender_for(server).send_batch(batch("a@mail.example"))
    assert server.accepted == []


def test_a_rejected_address_fails_alone_and_the_rest_go_out(server: SendGridTestServer) -> None:
    """A 400 naming one address raises RecipientsRejected; resending the others is accepted."""
    sender = sender_for(server)
    full = batch("a@mail.example", "bounce-me@mail.example", "c@mail.example")
    with pytest.raises(RecipientsRejected) as caught:
        sender.send_batch(full)
    assert caught.value.rejected == {"bounce-me@mail.example": "Does not contain a valid address."}
    rest = Batch(
        full.key,
        full.message,
        tuple(r for r in full.recipients if r.email not in caught.value.rejected),
    )
    sender.send_batch(rest)
    assert server.accepted[0].recipients == ["a@mail.example", "c@mail.example"]


def test_a_wrong_api_key_is_permanent(server: SendGridTestServer) -> None:
    """A 401 for a bad key is a PermanentError carrying SendGrid's message."""
    with pytest.raises(PermanentError, match=r"HTTP 401.*authorization grant is invalid"):
        sender_for(server, key="SG.wrong").send_batch(batch("a@mail.example"))
    assert [r.status for r in server.rejected] == [401]


def test_random_faults_are_reproducible_with_a_seed() -> None:
    """The same seed and fault rate give the same sequence of outcomes."""

    def outcomes() -> list[str]:
        with SendGridTestServer(api_key=KEY, fault_rate=0.5, seed=11) as srv:
            sender = sender_for(srv)
            seen = []
            for n in range(12):
                try:
                    sender.send_batch(batch(f"r{n}@mail.example"))
                    seen.append("ok")
                except RetryableError as exc:
                    seen.append(type(exc).__name__ + str(exc.retry_after is not None))
            return seen

    first = outcomes()
    assert first == outcomes()
    assert "ok" in first
    assert len(set(first)) > 1


class Webhook:
    """A stand-in for the web view: verifies, parses and stores events once per sg_event_id."""

    def __init__(self, public_key: str) -> None:
        self.public_key = public_key
        self.stored: dict[str, ProviderEvent] = {}
        self.statuses: list[int] = []
        self.lock = threading.Lock()

    def receive(self, body: bytes, headers: Any) -> int:
        """Answer as the real view must: 403 forged/replayed, 400 malformed, else 200."""
        try:
            verify_event_request(
                body,
                headers.get(SIGNATURE_HEADER, ""),
                headers.get(TIMESTAMP_HEADER, ""),
                self.public_key,
                now=time.time(),
            )
            events = parse_events(body)
        except VerificationError:
            return 403
        except InvalidInputError:
            return 400
        with self.lock:
            for event in events:
                self.stored.setdefault(event.sg_event_id, event)
        return 200


@pytest.fixture
def webhook(server: SendGridTestServer) -> Iterator[tuple[Webhook, str]]:
    """A webhook receiver on 127.0.0.1 trusting the test server's signing key."""
    receiver = Webhook(server.public_key)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver.receive(body, self.headers)
            receiver.statuses.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver, f"http://127.0.0.1:{httpd.server_address[1]}/webhooks/sendgrid"
    httpd.shutdown()
    httpd.server_close()


def test_signed_events_for_accepted_mail_reach_the_webhook(
    server: SendGridTestServer, webhook: tuple[Webhook, str]
) -> None:
    """Events built from accepted mail carry its custom args, verify, and store once each."""
    receiver, url = webhook
    sender_for(server).send_batch(batch("a@mail.example", "b@mail.example"))
    delivered = server.events("delivered")
    bounce = server.events("bounce", addresses=["B@mail.example"])
    assert server.post_events(url, delivered + bounce).status == 200
    assert server.post_events(url, delivered).status == 200  # SendGrid retries: no new rows
    assert len(receiver.stored) == 3
    (bounced,) = [e for e in receiver.stored.values() if e.kind is EventKind.BOUNCE]
    assert (bounced.email, bounced.edition_id, bounced.batch_id, bounced.subscriber_id) == (
        "b@mail.example",
        "9",
        "1",
        "1",
    )
    assert bounced.bounce_classification == "Invalid Address"


def test_click_events_carry_a_link_from_the_message(
    server: SendGridTestServer, webhook: tuple[Webhook, str]
) -> None:
    """A click event names a link that is in the HTML the server accepted."""
    receiver, url = webhook
    sender_for(server).send_batch(batch("a@mail.example"))
    server.post_events(url, server.events("click"))
    (click,) = receiver.stored.values()
    assert click.url == "https://paper.example/p/daily/"


def test_replayed_or_forged_posts_store_nothing(
    server: SendGridTestServer, webhook: tuple[Webhook, str]
) -> None:
    """An old timestamp or a key the webhook does not trust gets 403 and nothing is stored."""
    receiver, url = webhook
    sender_for(server).send_batch(batch("a@mail.example"))
    events = server.events("delivered")
    assert server.post_events(url, events, timestamp=int(time.time()) - 3600).status == 403
    with SendGridTestServer(api_key=KEY) as impostor:
        assert impostor.post_events(url, events).status == 403
    assert receiver.stored == {}


def test_the_server_can_post_events_for_each_acceptance(webhook: tuple[Webhook, str]) -> None:
    """With a webhook URL, each acceptance triggers signed processed and delivered events."""
    receiver, url = webhook
    log: list[str] = []
    with SendGridTestServer(api_key=KEY, webhook_url=url, log=log.append) as srv:
        receiver.public_key = srv.public_key
        sender_for(srv).send_batch(batch("a@mail.example"))
    kinds = sorted(e.kind.value for e in receiver.stored.values())
    assert kinds == ["delivered", "processed"]
    assert any("posted 1 delivered event(s): HTTP 200" in line for line in log)


def test_an_unreachable_webhook_is_logged_not_fatal() -> None:
    """If the webhook is down the mail is still accepted; posts are retried, then given up."""
    log: list[str] = []
    with SendGridTestServer(
        api_key=KEY, webhook_url="http://127.0.0.1:9/hook", log=log.append, event_retry_for=0.3
    ) as srv:
        sender_for(srv).send_batch(batch("a@mail.example"))
    assert len(srv.accepted) == 1
    assert any("could not post 1 processed event(s)" in line for line in log)
    assert srv.event_stats.given_up == 2
    assert srv.event_stats.pending == 0


class ScriptedHook:
    """A webhook on 127.0.0.1 answering the scripted statuses in turn, then ``then``."""

    def __init__(self, script: list[int], then: int = 200) -> None:
        self.script = list(script)
        self.then = then
        self.bodies: list[bytes] = []
        self.release = threading.Event()  # a hook built with ``hold`` waits for this
        self.hold = False
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if hook.hold:
                    hook.release.wait(timeout=30)
                with lock:
                    hook.bodies.append(body)
                    status = hook.script.pop(0) if hook.script else hook.then
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/webhooks/sendgrid"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hook() -> Iterator[ScriptedHook]:
    """A scripted webhook: 500 twice, then 200."""
    scripted = ScriptedHook([500, 500])
    yield scripted
    scripted.close()


def ids_in(body: bytes) -> list[str]:
    return [event["sg_event_id"] for event in json.loads(body)]


def test_a_failed_post_is_retried_with_the_same_events(hook: ScriptedHook) -> None:
    """A post answered 500 twice is tried again, with the same sg_event_ids, until it gets 200."""
    log: list[str] = []
    with SendGridTestServer(api_key=KEY, webhook_url=hook.url, auto_events=("processed",)) as srv:
        srv.log = log.append  # set late, as the pipeline harness does
        sender_for(srv).send_batch(batch("a@mail.example", "b@mail.example"))
        assert srv.wait_for_events(timeout=20)
        stats = srv.event_stats
    assert (stats.queued, stats.attempted, stats.failed, stats.delivered) == (1, 3, 2, 1)
    assert (stats.given_up, stats.pending) == (0, 0)
    assert len(hook.bodies) == 3
    assert ids_in(hook.bodies[0]) == ids_in(hook.bodies[1]) == ids_in(hook.bodies[2])
    assert len(set(ids_in(hook.bodies[0]))) == 2
    assert log[-1] == "posted 2 processed event(s): HTTP 200"


def test_a_webhook_that_never_says_yes_is_given_up_and_counted() -> None:
    """A post never answered 2xx is retried until ``event_retry_for`` runs out, then counted."""
    never = ScriptedHook([], then=503)
    log: list[str] = []
    try:
        with SendGridTestServer(api_key=KEY, event_retry_for=0.5, log=log.append) as srv:
            srv.queue_events(never.url, [{"event": "open", "sg_event_id": "x1"}])
            started = time.monotonic()
            assert srv.wait_for_events(timeout=20)
            elapsed = time.monotonic() - started
            stats = srv.event_stats
    finally:
        never.close()
    assert (stats.queued, stats.delivered, stats.given_up, stats.pending) == (1, 0, 1, 0)
    assert stats.attempted == stats.failed >= 2
    assert elapsed < 5
    assert {ids_in(body)[0] for body in never.bodies} == {"x1"}
    assert any("HTTP 503; gave up" in line for line in log)
    assert any("HTTP 503; will retry" in line for line in log)


def test_the_mail_send_answer_does_not_wait_for_the_webhook() -> None:
    """Automatic events are posted in the background: a stuck webhook delays no 202."""
    stuck = ScriptedHook([])
    stuck.hold = True
    try:
        with SendGridTestServer(api_key=KEY, webhook_url=stuck.url) as srv:
            sender_for(srv, timeout=5).send_batch(batch("a@mail.example"))
            assert not srv.wait_for_events(timeout=0.05)
            assert srv.event_stats.pending == 2
            stuck.release.set()
            assert srv.wait_for_events(timeout=20)
            assert srv.event_stats.delivered == 2
    finally:
        stuck.close()


def test_event_poster_arguments_are_checked() -> None:
    """Nonsense retry settings are refused, and a closed poster takes no more posts."""
    key = generate_signing_key()
    with pytest.raises(ValueError, match="first_delay"):
        EventPoster(key, first_delay=0)
    with pytest.raises(ValueError, match="workers"):
        EventPoster(key, workers=0)
    poster = EventPoster(key)
    assert poster.close(timeout=1)
    with pytest.raises(RuntimeError, match="closed"):
        poster.submit("http://127.0.0.1:9/", [])


def test_other_paths_and_oversized_or_broken_bodies(server: SendGridTestServer) -> None:
    """Unknown paths get 404; 30 MB or more 413; non-JSON 400; no auth 401; not JSON-typed 415."""

    def post(
        path: str,
        body: bytes,
        auth: str | None = f"Bearer {KEY}",
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        headers = {"Content-Type": content_type}
        if auth:
            headers["Authorization"] = auth
        request = urllib.request.Request(server.url + path, body, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert post("/v3/templates", b"{}")[0] == 404
    assert post("/v3/mail/send", b"{not json")[0] == 400
    status, body = post("/v3/mail/send", b"{}", auth=None)
    assert (status, body["errors"][0]["message"]) == (401, "authorization required")
    assert post("/v3/mail/send", b" " * (30 * 1024 * 1024))[0] == 413
    status, body = post("/v3/mail/send", b"{}", content_type="text/plain")
    assert status == 415
    assert body["errors"][0]["message"] == "Content-Type should be application/json."
    assert [r.status for r in server.rejected] == [400, 401, 413, 415]


def test_server_arguments_are_checked() -> None:
    """A fault rate outside [0, 1], a latency outside [0, 60], a count below 1, or a URL
    before start are refused."""
    with pytest.raises(ValueError, match="fault_rate"):
        SendGridTestServer(fault_rate=2)
    with pytest.raises(ValueError, match="latency"):
        SendGridTestServer(latency=-1)
    server = SendGridTestServer()
    with pytest.raises(ValueError, match="count"):
        server.inject(Fault.SERVER_ERROR, count=0)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def test_an_unreadable_content_length_gets_411(server: SendGridTestServer) -> None:
    """A request whose Content-Length is not a number is answered 411, not left hanging."""
    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
    connection.putrequest("POST", "/v3/mail/send")
    connection.putheader("Authorization", f"Bearer {KEY}")
    connection.putheader("Content-Length", "lots")
    connection.endheaders()
    response = connection.getresponse()
    connection.close()
    assert response.status == 411
    assert [r.status for r in server.rejected] == [411]


def test_events_still_follow_when_the_answer_is_dropped(webhook: tuple[Webhook, str]) -> None:
    """Mail accepted before the connection dropped still gets its events, as at SendGrid."""
    receiver, url = webhook
    with SendGridTestServer(api_key=KEY, webhook_url=url, auto_events=("processed",)) as srv:
        receiver.public_key = srv.public_key
        srv.inject(Fault.DROP_AFTER_ACCEPT)
        with pytest.raises(OutcomeUnknownError):
            sender_for(srv).send_batch(batch("a@mail.example"))
    assert [e.kind for e in receiver.stored.values()] == [EventKind.PROCESSED]


def test_latency_delays_every_answer_and_the_batch_still_goes_through() -> None:
    """With a latency set, no answer comes sooner; the request is then handled as usual."""
    with SendGridTestServer(api_key=KEY, latency=0.3) as slow:
        started = time.monotonic()
        result = sender_for(slow).send_batch(batch("a@mail.example"))
        elapsed = time.monotonic() - started
        assert elapsed >= 0.3
        assert [accepted.message_id for accepted in slow.accepted] == [result.provider_id]
