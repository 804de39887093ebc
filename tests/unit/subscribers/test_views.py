"""The public subscriber pages over HTTP: sign-up, confirm, preferences, unsubscribe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.app.factory import create_app
from newsletter.db import Database
from newsletter.settings import Settings
from subscribers import services
from subscribers.links import Links
from subscribers.models import Consent, Subscriber, Subscription, SubscriptionState
from subscribers.tokens import Purpose, Tokens, TokenSubject
from tests.unit.subscribers.factories import link_in, outbox_messages, seed, text_of

S = SubscriptionState
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def app_settings(data_dir: Path) -> Settings:
    """Development settings with an outbox under the test's data directory."""
    return Settings(data_dir=data_dir, base_url="https://news.example.org")


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    """A test client on a fresh app with one publication ("daily") and its list."""
    app = create_app(app_settings)
    seed(app.state.runtime.database)
    with TestClient(app, base_url="https://news.example.org") as test_client:
        yield test_client


def _db(client: TestClient) -> Database:
    database: Database = client.app.state.runtime.database  # type: ignore[attr-defined]
    return database


def _state(client: TestClient, email: str = "ann@example.org") -> S | None:
    with _db(client).session() as session:
        subscriber = services.find_subscriber(session, email)
        if subscriber is None:
            return None
        return subscriber.subscriptions[0].state


def _outbox(settings: Settings) -> list:  # type: ignore[type-arg]
    return outbox_messages(settings.outbox_dir)


def _path(url: str) -> str:
    return url.removeprefix("https://news.example.org")


def _links(settings: Settings) -> Links:
    return Links(settings.base_url, Tokens(settings.secret_key.get_secret_value()))


def _subject(client: TestClient, email: str = "ann@example.org") -> TokenSubject:
    with _db(client).session() as session:
        sub = services.get_subscriber(session, email).subscriptions[0]
        return TokenSubject(sub.subscriber_id, sub.list_id)


def _sign_up(client: TestClient, email: str = "ann@example.org", **extra: str) -> object:
    return client.post("/subscribe/daily", data={"email": email, "name": "Ann", **extra})


def test_whole_flow_sign_up_confirm_preferences_one_click(
    client: TestClient, app_settings: Settings
) -> None:
    """Sign up, confirm from the emailed link, change topics, then one-click unsubscribe."""
    form = client.get("/subscribe/daily")
    assert form.status_code == 200
    assert 'name="website"' in form.text
    answer = client.post(
        "/subscribe/daily", data={"email": "Ann@Example.org", "name": "Ann", "topics": "Sport"}
    )
    assert answer.status_code == 200
    assert "Check your inbox" in answer.text
    assert _state(client) is S.PENDING

    [message] = _outbox(app_settings)
    assert message["To"] == "Ann <ann@example.org>"
    assert "Confirm your subscription" in message["Subject"]
    confirm_url = link_in(message, "/confirm/")
    page = client.get(_path(confirm_url))
    assert page.status_code == 200
    assert "Yes, subscribe me" in page.text
    assert _state(client) is S.PENDING, "a GET on the confirm link changes nothing"
    done = client.post(_path(confirm_url))
    assert done.status_code == 200
    assert "You are subscribed" in done.text
    assert _state(client) is S.CONFIRMED
    assert "Yes, subscribe me" not in client.get(_path(confirm_url)).text

    subject = _subject(client)
    prefs_path = _path(_links(app_settings).preferences_url(subject.subscriber_id, subject.list_id))
    prefs = client.get(prefs_path)
    assert prefs.status_code == 200
    assert 'value="Sport" checked' in prefs.text
    saved = client.post(
        prefs_path,
        data={"list": str(subject.list_id), f"topics-{subject.list_id}": ["Science"], "pause": "7"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    shown = client.get(saved.headers["location"])
    assert "Your preferences are saved" in shown.text
    assert "Keep the current pause" in shown.text
    with _db(client).session() as session:
        sub = session.scalars(select(Subscription)).one()
        assert sub.topics == ["Science"]
        assert sub.paused_until is not None
    kept = client.post(
        prefs_path,
        data={"list": str(subject.list_id), "pause": "keep"},
        follow_redirects=False,
    )
    assert kept.status_code == 303
    with _db(client).session() as session:
        assert session.scalars(select(Subscription)).one().paused_until is not None

    one_click = _path(_links(app_settings).one_click_url(subject.subscriber_id, subject.list_id))
    assert client.get(one_click).status_code == 200
    assert _state(client) is S.CONFIRMED, "a GET on the one-click URL changes nothing"
    response = client.post(one_click, data=ONE_CLICK, headers={"cookie": ""})
    assert response.status_code == 200
    assert "You are unsubscribed" in response.text
    assert _state(client) is S.UNSUBSCRIBED
    assert client.post(one_click, data=ONE_CLICK).status_code == 200
    assert "You are unsubscribed" in client.get(one_click).text
    with _db(client).session() as session:
        sources = [c.source.value for c in session.scalars(select(Consent).order_by(Consent.id))]
    assert sources == ["web", "email", "one_click"]


def test_visible_unsubscribe_link_get_changes_nothing_and_button_unsubscribes(
    client: TestClient, app_settings: Settings
) -> None:
    """GET /unsubscribe/{token} only shows the button; its POST unsubscribes."""
    _sign_up(client)
    subject = _subject(client)
    url = _path(_links(app_settings).unsubscribe_url(subject.subscriber_id, subject.list_id))
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert _state(client) is S.PENDING
    assert client.post(url, data=ONE_CLICK).status_code == 200
    assert _state(client) is S.UNSUBSCRIBED


def test_one_click_post_without_the_rfc_8058_body_is_refused(
    client: TestClient, app_settings: Settings
) -> None:
    """A POST lacking List-Unsubscribe=One-Click gets 400 and unsubscribes nobody."""
    _sign_up(client)
    subject = _subject(client)
    url = _path(_links(app_settings).one_click_url(subject.subscriber_id, subject.list_id))
    response = client.post(url, data={"other": "x"})
    assert response.status_code == 400
    assert "List-Unsubscribe" in response.text
    assert _state(client) is S.PENDING


def test_one_click_accepts_multipart_bodies(client: TestClient, app_settings: Settings) -> None:
    """Mail providers may post the one-click field as multipart/form-data."""
    _sign_up(client)
    subject = _subject(client)
    url = _path(_links(app_settings).one_click_url(subject.subscriber_id, subject.list_id))
    response = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    assert _state(client) is S.UNSUBSCRIBED


@pytest.mark.parametrize("prefix", ["/u/", "/unsubscribe/", "/confirm/", "/preferences/"])
def test_tampered_tokens_get_a_400_page(client: TestClient, prefix: str) -> None:
    """A changed or made-up token is refused with a clear page, never a 5xx."""
    for token in ["garbage", "1-1.AAAAAA.bad-signature", "x" * 250]:
        response = client.get(prefix + token)
        assert response.status_code == 400, (prefix, token)
        assert "invalid" in response.text or "malformed" in response.text
    assert client.post(prefix + "garbage", data=ONE_CLICK).status_code == 400


def test_cross_subscriber_and_cross_purpose_tokens_are_refused(
    client: TestClient, app_settings: Settings
) -> None:
    """Ann's token with Bob's id spliced in, or a preferences token used to unsubscribe, fail."""
    _sign_up(client, "ann@example.org")
    _sign_up(client, "bob@example.org")
    ann, bob = _subject(client, "ann@example.org"), _subject(client, "bob@example.org")
    tokens = Tokens(app_settings.secret_key.get_secret_value())
    ann_token = tokens.make(Purpose.UNSUBSCRIBE, ann)
    bob_token = tokens.make(Purpose.UNSUBSCRIBE, bob)
    forged = bob_token.split(".", 1)[0] + "." + ann_token.split(".", 1)[1]
    assert client.post(f"/u/{forged}", data=ONE_CLICK).status_code == 400
    preferences = tokens.make(Purpose.PREFERENCES, bob)
    assert client.post(f"/u/{preferences}", data=ONE_CLICK).status_code == 400
    assert _state(client, "bob@example.org") is S.PENDING


def test_expired_confirm_link_is_refused(client: TestClient, app_settings: Settings) -> None:
    """A confirm token older than the max age shows an expiry page and confirms nothing."""
    _sign_up(client)
    subject = _subject(client)
    old = Tokens(app_settings.secret_key.get_secret_value(), clock=lambda: 1_000_000_000.0)
    token = old.make(Purpose.CONFIRM, subject)
    for response in (client.get(f"/confirm/{token}"), client.post(f"/confirm/{token}")):
        assert response.status_code == 400
        assert "expired" in response.text
    assert _state(client) is S.PENDING


def test_confirming_an_unsubscribed_sign_up_is_a_conflict(
    client: TestClient, app_settings: Settings
) -> None:
    """Confirming after unsubscribing answers 409 with a page asking to sign up again."""
    _sign_up(client)
    subject = _subject(client)
    links = _links(app_settings)
    client.post(_path(links.one_click_url(subject.subscriber_id, subject.list_id)), data=ONE_CLICK)
    response = client.post(_path(links.confirm_url(subject.subscriber_id, subject.list_id)))
    assert response.status_code == 409
    assert "sign up again" in response.text


def test_token_of_an_erased_subscriber_is_not_found(
    client: TestClient, app_settings: Settings
) -> None:
    """A valid token naming a subscription that no longer exists answers 404."""
    url = _path(_links(app_settings).one_click_url(4242, 1))
    assert client.get(url).status_code == 404
    assert client.post(url, data=ONE_CLICK).status_code == 404


def test_invalid_form_input_re_renders_the_form_escaped(client: TestClient) -> None:
    """A bad address shows the form again with the error (400), user text escaped."""
    response = client.post(
        "/subscribe/daily", data={"email": "<script>alert(1)</script>", "name": "<b>Ann</b>"}
    )
    assert response.status_code == 400
    assert "not a valid address" in response.text
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;" in response.text
    assert "&lt;b&gt;Ann&lt;/b&gt;" in response.text
    assert _state(client, "x@example.org") is None


def test_oversized_field_and_body_are_refused(client: TestClient) -> None:
    """A field over 1000 characters gives 400; a body over the form cap gives 413."""
    long_name = client.post("/subscribe/daily", data={"email": "a@example.org", "name": "n" * 1500})
    assert long_name.status_code == 400
    assert "longer than" in long_name.text
    huge = client.post("/subscribe/daily", data={"email": "a@example.org", "name": "n" * 20000})
    assert huge.status_code == 413
    with _db(client).session() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_file_uploads_are_refused(client: TestClient) -> None:
    """The sign-up form accepts text fields only."""
    response = client.post(
        "/subscribe/daily",
        data={"email": "a@example.org"},
        files={"name": ("name.txt", b"Ann", "text/plain")},
    )
    assert 400 <= response.status_code < 500


def test_unknown_list_is_a_404_page(client: TestClient) -> None:
    """The form of a list that does not exist answers 404 with a friendly page."""
    response = client.get("/subscribe/nope")
    assert response.status_code == 404
    assert "nope" in response.text
    assert client.post("/subscribe/nope", data={"email": "a@example.org"}).status_code == 404


def test_honeypot_answers_like_success_but_does_nothing(
    client: TestClient, app_settings: Settings
) -> None:
    """A filled hidden field gets the usual answer, and no subscriber or email is created."""
    response = _sign_up(client, website="http://spam.example")
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    assert _state(client) is None
    assert _outbox(app_settings) == []
    api = client.post(
        "/api/subscribe", json={"email": "b@example.org", "list": "daily", "website": "x"}
    )
    assert api.status_code == 202
    assert _state(client, "b@example.org") is None


def test_rate_limit_per_ip(data_dir: Path) -> None:
    """After the per-IP limit, sign-ups get 429 with Retry-After and create nothing."""
    settings = Settings(data_dir=data_dir, signup_limit_per_ip=2, signup_limit_per_address=10)
    app = create_app(settings)
    seed(app.state.runtime.database)
    with TestClient(app) as test_client:
        assert _sign_up(test_client, "a@example.org").status_code == 200  # type: ignore[attr-defined]
        assert _sign_up(test_client, "b@example.org").status_code == 200  # type: ignore[attr-defined]
        third = _sign_up(test_client, "c@example.org")
        assert third.status_code == 429  # type: ignore[attr-defined]
        assert third.headers["retry-after"] == "3600"  # type: ignore[attr-defined]
        assert "Too many sign-ups" in third.text  # type: ignore[attr-defined]
        assert _state(test_client, "c@example.org") is None
        api = test_client.post("/api/subscribe", json={"email": "d@example.org", "list": "daily"})
        assert api.status_code == 429
        assert "Too many" in api.json()["error"]


def test_rate_limit_per_address(data_dir: Path) -> None:
    """One address cannot be signed up more often than its limit, whatever the IP."""
    settings = Settings(
        data_dir=data_dir,
        signup_limit_per_ip=100,
        signup_limit_per_address=1,
        signup_window=timedelta(minutes=30),
    )
    app = create_app(settings)
    seed(app.state.runtime.database)
    with TestClient(app) as test_client:
        assert _sign_up(test_client).status_code == 200  # type: ignore[attr-defined]
        again = _sign_up(test_client, "ANN@example.org")
        assert again.status_code == 429  # type: ignore[attr-defined]
        assert "30 minutes" in again.text  # type: ignore[attr-defined]


def test_json_endpoint(client: TestClient, app_settings: Settings) -> None:
    """POST /api/subscribe answers 202 and sends the confirmation; bad input gets JSON 4xx."""
    ok = client.post(
        "/api/subscribe",
        json={"email": "ann@example.org", "list": "daily", "topics": ["Politics"]},
    )
    assert ok.status_code == 202
    assert ok.json()["status"] == "pending"
    assert len(_outbox(app_settings)) == 1
    bad = client.post("/api/subscribe", json={"email": "nope", "list": "daily"})
    assert bad.status_code == 422
    assert "not a valid address" in bad.json()["error"]
    assert bad.json()["fields"][0]["field"] == "email"
    missing = client.post("/api/subscribe", json={"email": "b@example.org", "list": "nope"})
    assert missing.status_code == 404
    assert missing.json()["status"] == 404
    extra = client.post(
        "/api/subscribe", json={"email": "b@example.org", "list": "daily", "admin": True}
    )
    assert extra.status_code == 422
    assert extra.json()["fields"][0]["field"] == "admin"
    long = client.post("/api/subscribe", json={"email": "b@example.org", "list": "d" * 65})
    assert long.status_code == 422
    assert _state(client, "b@example.org") is None


def test_single_opt_in_list_subscribes_at_once(client: TestClient) -> None:
    """On a single opt-in list the answer says subscribed and no email is sent."""
    with _db(client).session() as session:
        services.get_list(session, "daily").double_opt_in = False
    page = _sign_up(client)
    assert "is subscribed" in page.text  # type: ignore[attr-defined]
    api = client.post("/api/subscribe", json={"email": "b@example.org", "list": "daily"})
    assert api.json()["status"] == "subscribed"
    assert _state(client, "b@example.org") is S.CONFIRMED


def test_preferences_bad_input(client: TestClient, app_settings: Settings) -> None:
    """An unknown pause choice or topic answers 400 and changes nothing."""
    _sign_up(client)
    subject = _subject(client)
    url = _path(_links(app_settings).preferences_url(subject.subscriber_id, subject.list_id))
    bad_pause = client.post(url, data={"list": str(subject.list_id), "pause": "999"})
    assert bad_pause.status_code == 400
    assert "pause" in bad_pause.text
    bad_topic = client.post(
        url, data={"list": str(subject.list_id), f"topics-{subject.list_id}": "Cooking"}
    )
    assert bad_topic.status_code == 400
    assert "not a topic" in bad_topic.text
    assert _state(client) is S.PENDING


def test_unsubscribing_from_preferences_and_joining_again(
    client: TestClient, app_settings: Settings
) -> None:
    """Unticking the list unsubscribes; ticking it again from the same link re-subscribes."""
    _sign_up(client)
    subject = _subject(client)
    url = _path(_links(app_settings).preferences_url(subject.subscriber_id, subject.list_id))
    client.post(url, data={"pause": ""})
    assert _state(client) is S.UNSUBSCRIBED
    client.post(url, data={"list": str(subject.list_id), "pause": ""})
    assert _state(client) is S.CONFIRMED


def test_non_ascii_local_part_is_a_form_error_not_a_503(
    client: TestClient, app_settings: Settings
) -> None:
    """josé@ gets the form again with a clear 400 (API: 422 naming email); IDN in punycode."""
    page = _sign_up(client, "josé@example.com")
    assert page.status_code == 400  # type: ignore[attr-defined]
    assert "non-ASCII characters before the @" in page.text  # type: ignore[attr-defined]
    assert 'value="josé@example.com"' in page.text  # type: ignore[attr-defined]
    api = client.post("/api/subscribe", json={"email": "josé@example.com", "list": "daily"})
    assert api.status_code == 422
    assert "non-ASCII" in api.json()["error"]
    assert _outbox(app_settings) == []
    idn = _sign_up(client, "ida@Bücher.de")
    assert idn.status_code == 200  # type: ignore[attr-defined]
    assert _state(client, "ida@xn--bcher-kva.de") is S.PENDING
    [message] = _outbox(app_settings)
    assert message["To"] == "Ann <ida@xn--bcher-kva.de>"


def test_confirmation_email_names_the_form_or_the_api(
    client: TestClient, app_settings: Settings
) -> None:
    """A form sign-up is told it came from our form; an API sign-up that it came from elsewhere."""
    _sign_up(client)
    client.post("/api/subscribe", json={"email": "bob@example.org", "list": "daily"})
    texts = {m["To"]: " ".join(text_of(m).split()) for m in _outbox(app_settings)}
    assert "this address was entered on our sign-up form" in texts["Ann <ann@example.org>"]
    assert "sign-up form on another site or app" in texts["bob@example.org"]
    assert "entered on our sign-up form" not in texts["bob@example.org"]


def test_head_is_answered_wherever_get_is(client: TestClient, app_settings: Settings) -> None:
    """HEAD on each public page answers like GET, with no body, and changes nothing."""
    _sign_up(client)
    subject = _subject(client)
    links = _links(app_settings)
    paths = [
        "/subscribe/daily",
        _path(links.confirm_url(subject.subscriber_id, subject.list_id)),
        _path(links.preferences_url(subject.subscriber_id, subject.list_id)),
        _path(links.one_click_url(subject.subscriber_id, subject.list_id)),
        _path(links.one_click_url(subject.subscriber_id, subject.list_id)).replace(
            "/u/", "/unsubscribe/"
        ),
    ]
    for path in paths:
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert response.content == b"", path
    assert client.head("/subscribe/nope").status_code == 404
    assert _state(client) is S.PENDING


def test_json_decode_error_says_the_body_is_not_json(client: TestClient) -> None:
    """A body that is not JSON is a 400 saying so, not a field named "0"."""
    response = client.post(
        "/api/subscribe", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert "body: not valid JSON (line 1, column 11)" in error
    assert "0:" not in error
    binary = client.post("/api/subscribe", content=b"\xff\xfe\x00")
    assert binary.status_code == 400
    not_object = client.post("/api/subscribe", json=["ann@example.org"])
    assert not_object.status_code == 422
    assert _state(client) is None


def test_preferences_refuse_an_unknown_list_and_change_nothing(
    client: TestClient, app_settings: Settings
) -> None:
    """A list id not offered on the page answers 400 and leaves every subscription as it was."""
    _sign_up(client)
    subject = _subject(client)
    url = _path(_links(app_settings).preferences_url(subject.subscriber_id, subject.list_id))
    for bogus in ("9999", "not-a-number"):
        response = client.post(url, data={"list": bogus, "pause": "7"})
        assert response.status_code == 400
        assert "is not a list offered on this page" in response.text
    assert _state(client) is S.PENDING
    with _db(client).session() as session:
        assert session.scalars(select(Subscription)).one().paused_until is None


def test_confirming_a_stale_sign_up_commits_the_expiry_and_says_so(
    client: TestClient, app_settings: Settings
) -> None:
    """A pending sign-up past its expiry gets a 410 page, and the expiry is saved."""
    _sign_up(client)
    subject = _subject(client)
    with _db(client).session() as session:
        pending = services.subscription_for(session, subject)
        assert pending.pending_since is not None
        pending.pending_since -= app_settings.pending_expiry * 2
    url = _links(app_settings).confirm_url(subject.subscriber_id, subject.list_id)
    response = client.post(_path(url))
    assert response.status_code == 410
    assert "has expired" in response.text
    assert "https://news.example.org/subscribe/daily" in response.text
    assert _state(client) is S.EXPIRED
    with _db(client).session() as session:
        last = session.scalars(select(Consent).order_by(Consent.id.desc())).first()
        assert last is not None
        assert (last.from_state, last.to_state) == ("pending", "expired")


@pytest.mark.parametrize("via", ["form", "api"])
def test_a_racing_duplicate_sign_up_answers_check_your_inbox(
    client: TestClient, app_settings: Settings, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """A sign-up that loses the race to insert a new address retries and sends no second email."""
    _sign_up(client)
    real = services.find_subscriber
    calls: list[str] = []

    def missed_once(session: object, email: str) -> object:
        # The twin request had not committed when this one looked the address up.
        calls.append(email)
        return None if len(calls) == 1 else real(session, email)  # type: ignore[arg-type]

    monkeypatch.setattr(services, "find_subscriber", missed_once)
    if via == "form":
        response = _sign_up(client)
        assert response.status_code == 200  # type: ignore[attr-defined]
        assert "confirmation link is on its way" in response.text  # type: ignore[attr-defined]
    else:
        answer = client.post("/api/subscribe", json={"email": "ann@example.org", "list": "daily"})
        assert (answer.status_code, answer.json()["status"]) == (202, "pending")
    assert len(calls) == 2
    assert len(_outbox(app_settings)) == 1
    with _db(client).session() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1


def test_confirmation_email_names_its_list(client: TestClient, app_settings: Settings) -> None:
    """The confirmation carries the RFC 2919 List-Id of the list signed up to."""
    _sign_up(client)
    [message] = _outbox(app_settings)
    assert message["List-Id"] == '"The Daily Briefing" <daily.news.example.org>'


@pytest.mark.parametrize(("topics", "promised"), [(["Sport", "Science"], True), ([], False)])
def test_links_promise_topics_only_when_the_publication_has_them(
    data_dir: Path, topics: list[str], promised: bool
) -> None:
    """ "Choose topics" leads to topics; without any, the links say what the page offers."""
    settings = Settings(data_dir=data_dir, base_url="https://news.example.org")
    app = create_app(settings)
    seed(app.state.runtime.database, topics=topics)
    with TestClient(app, base_url="https://news.example.org") as test_client:
        assert _sign_up(test_client).status_code == 200  # type: ignore[attr-defined]
        [message] = _outbox(settings)
        confirm_path = _path(link_in(message, "/confirm/"))
        done = test_client.post(confirm_path)
        again = test_client.get(confirm_path)
        subject = _subject(test_client)
        links = _links(settings)
        unsubscribe = test_client.get(
            _path(links.unsubscribe_url(subject.subscriber_id, subject.list_id))
        )
        prefs = test_client.get(
            _path(links.preferences_url(subject.subscriber_id, subject.list_id))
        )
    for page in (done, again):
        assert ("Choose topics or manage your subscription" in page.text) is promised
        assert ("Manage your subscription" in page.text) is not promised
    assert ("Choose topics or pause instead" in unsubscribe.text) is promised
    assert ("Pause instead" in unsubscribe.text) is not promised
    assert ("Topics (leave all unticked" in prefs.text) is promised


@pytest.mark.parametrize("name", ["Eve\x1b]0;owned\x07", "Eve\x9b31m", "Eve\x00"])
def test_sign_up_names_with_control_characters_are_refused(
    client: TestClient, app_settings: Settings, name: str
) -> None:
    """ESC, BEL, CSI in a name: a clear 4xx on the form and the API, nothing stored, no
    email sent (issue 17 B6); line breaks fold into spaces as before."""
    page = client.post("/subscribe/daily", data={"email": "eve@example.org", "name": name})
    assert page.status_code == 400
    assert "control character" in page.text
    api = client.post(
        "/api/subscribe", json={"email": "eve@example.org", "list": "daily", "name": name}
    )
    assert api.status_code == 422
    assert api.json()["fields"][0]["field"] == "name"
    assert _state(client, "eve@example.org") is None
    assert _outbox(app_settings) == []
    folded = client.post("/subscribe/daily", data={"email": "eve@example.org", "name": "Eve\r\nX"})
    assert folded.status_code == 200
    [message] = _outbox(app_settings)
    assert message["To"] == "Eve X <eve@example.org>"
