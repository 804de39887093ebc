"""The back office's readers: search, a reader's page and the actions on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.db import Database, utcnow
from newsletter.delivery.models import Delivery, DeliveryState
from newsletter.digests.models import Digest
from newsletter.editors.models import AuditEntry, Role
from newsletter.providers.memory import MemorySender
from newsletter.publications.models import Publication
from subscribers.models import (
    Consent,
    ConsentSource,
    Subscriber,
    Subscription,
    SubscriptionState,
    Suppression,
    SuppressionReason,
)
from subscribers.services import ensure_default_list
from subscribers.suppression import suppress
from tests.factories import make_publication
from tests.unit.newsletter.delivery.dispatch_factories import add_subscribers

SignIn = Callable[[Role], str]


def _readers(db: Database, count: int, **kwargs: object) -> tuple[int, list[int]]:
    with db.session() as session:
        publication = make_publication(session)
        list_id = ensure_default_list(session, publication).id
        return list_id, add_subscribers(session, list_id, count, **kwargs)  # type: ignore[arg-type]


def _subscription(db: Database, reader_id: int) -> Subscription:
    with db.session() as session:
        found = session.scalars(
            select(Subscription).where(Subscription.subscriber_id == reader_id)
        ).one()
        session.expunge(found)
        return found


def test_search_is_for_admins_and_pages_through_matches(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Part of an address or name finds readers, fifty a page; publishers get 403."""
    _readers(db, 60)
    signed_in(Role.PUBLISHER)
    assert client.get("/editor/subscribers").status_code == 403
    signed_in(Role.ADMIN)
    first = client.get("/editor/subscribers?q=READER").text
    assert "60 readers, page 1 of 2." in first
    assert first.count('href="/editor/subscribers/') == 50
    second = client.get("/editor/subscribers?q=reader&page=2").text
    assert second.count('href="/editor/subscribers/') == 10
    assert "reader9@example.org" in second  # by address: reader1, reader10..., reader9 last
    by_name = client.get("/editor/subscribers?q=Reader+reader42").text
    assert "1 reader." in by_name
    assert "reader42@example.org" in by_name


def test_search_filters_and_takes_wildcards_literally(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """List and state narrow the search; ``%`` and ``_`` are characters, not patterns."""
    list_id, _ = _readers(db, 3)
    with db.session() as session:
        add_subscribers(session, list_id, 2, start=10, state=SubscriptionState.PENDING)
    signed_in(Role.ADMIN)
    assert "2 readers." in client.get("/editor/subscribers?state=pending").text
    assert "5 readers." in client.get("/editor/subscribers?list=morning").text
    assert "0 readers." in client.get("/editor/subscribers?q=%25").text
    assert "0 readers." in client.get("/editor/subscribers?q=reader_").text
    bad = client.get("/editor/subscribers?state=gone&q=reader")
    assert bad.status_code == 400
    assert "State: choose one of" in bad.text
    assert 'value="reader"' in bad.text  # the search as typed stays in the form
    unknown = client.get("/editor/subscribers?list=nope")
    assert unknown.status_code == 400
    assert "List: there is no list" in unknown.text
    assert client.get("/editor/subscribers?page=0").status_code == 400


def test_the_old_exact_lookup_opens_the_readers_page(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    _, (reader_id,) = _readers(db, 1)
    signed_in(Role.ADMIN)
    response = client.get("/editor/subscribers?email=Reader1@Example.org")
    assert response.status_code == 303
    assert response.headers["location"] == f"/editor/subscribers/{reader_id}"
    assert "0 readers." in client.get("/editor/subscribers?email=who@example.org").text


def test_readers_page_shows_subscriptions_consent_and_deliveries(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The page holds what is stored about the reader, their deliveries included."""
    list_id, (reader_id,) = _readers(db, 1)
    with db.session() as session:
        publication_id = session.scalars(select(Publication.id)).one()
        digest = Digest(
            publication_id=publication_id, edition_date=date(2026, 12, 1), cutoff_at=utcnow()
        )
        session.add(digest)
        session.flush()
        session.add(
            Delivery(
                digest_id=digest.id,
                subscriber_id=reader_id,
                list_id=list_id,
                state=DeliveryState.DELIVERED,
                opens=2,
            )
        )
    signed_in(Role.ADMIN)
    page = client.get(f"/editor/subscribers/{reader_id}").text
    assert "reader1@example.org" in page
    assert "Unsubscribe" in page
    assert "Resend confirmation" not in page
    assert f'href="/editor/editions/{digest.id}/report"' in page
    assert "2026-12-01" in page
    assert "delivered" in page
    assert client.get("/editor/subscribers/999999").status_code == 404
    assert client.get(f"/editor/subscribers/{2**64}").status_code in (404, 422)


def _audited(db: Database, action: str) -> list[AuditEntry]:
    with db.session() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))
        session.expunge_all()
        return entries


def test_admin_unsubscribes_a_reader_once(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The consent record and the audit trail name the admin; a second try changes nothing."""
    _, (reader_id,) = _readers(db, 1)
    subscription_id = _subscription(db, reader_id).id
    token = signed_in(Role.ADMIN)
    url = f"/editor/subscribers/{reader_id}/subscriptions/{subscription_id}/unsubscribe"
    assert client.post(url, data={}).status_code == 403  # no CSRF token: refused
    assert _subscription(db, reader_id).state is SubscriptionState.CONFIRMED
    done = client.post(url, data={"csrf_token": token})
    assert done.status_code == 303
    assert done.headers["location"].endswith("done=reader-unsubscribed")
    assert _subscription(db, reader_id).state is SubscriptionState.UNSUBSCRIBED
    with db.session() as session:
        consent = session.scalars(select(Consent).order_by(Consent.id.desc())).first()
        assert consent is not None
        assert consent.source is ConsentSource.BACK_OFFICE
        assert consent.text == "by Admin in the back office"
    assert [entry.target for entry in _audited(db, "subscriber.unsubscribe")] == [str(reader_id)]
    page = client.get(f"/editor/subscribers/{reader_id}").text
    assert "/unsubscribe" not in page  # offered only when it can succeed
    again = client.post(url, data={"csrf_token": token})
    assert again.status_code == 409
    assert "already unsubscribed" in again.text
    assert len(_audited(db, "subscriber.unsubscribe")) == 1


def test_resending_a_confirmation_waits_for_the_interval(
    app: FastAPI, client: TestClient, db: Database, signed_in: SignIn
) -> None:
    _, (reader_id,) = _readers(db, 1, state=SubscriptionState.PENDING)
    subscription_id = _subscription(db, reader_id).id
    token = signed_in(Role.ADMIN)
    assert "Resend confirmation" in client.get(f"/editor/subscribers/{reader_id}").text
    url = f"/editor/subscribers/{reader_id}/subscriptions/{subscription_id}/resend"
    assert client.post(url, data={"csrf_token": token}).status_code == 303
    sender = app.state.runtime.sender
    assert isinstance(sender, MemorySender)
    assert len(sender.to("reader1@example.org")) == 1
    page = client.get(f"/editor/subscribers/{reader_id}").text
    assert "can be resent after" in page
    assert "Resend confirmation" not in page
    refused = client.post(url, data={"csrf_token": token})
    assert refused.status_code == 409
    assert "can be sent again after" in refused.text
    assert len(sender.to("reader1@example.org")) == 1


def test_suppress_then_lift_and_bounces_stay(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    _, (reader_id, other_id) = _readers(db, 2)
    token = signed_in(Role.ADMIN)
    done = client.post(
        f"/editor/subscribers/{reader_id}/suppress",
        data={"csrf_token": token, "note": "asked by phone"},
    )
    assert done.status_code == 303
    with db.session() as session:
        entry = session.scalars(select(Suppression)).one()
        assert (entry.reason, entry.note) == (SuppressionReason.MANUAL, "asked by phone")
    assert "Lift suppression" in client.get(f"/editor/subscribers/{reader_id}").text
    assert (
        client.post(f"/editor/subscribers/{reader_id}/lift", data={"csrf_token": token}).status_code
        == 303
    )
    with db.session() as session:
        assert session.scalars(select(Suppression)).all() == []
        suppress(session, "reader2@example.org", SuppressionReason.HARD_BOUNCE)
    page = client.get(f"/editor/subscribers/{other_id}").text
    assert "Lift suppression" not in page
    assert "only the reader signing up again" in page
    refused = client.post(f"/editor/subscribers/{other_id}/lift", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "hard bounce" in refused.text
    with db.session() as session:
        assert len(session.scalars(select(Suppression)).all()) == 1


def test_erasing_needs_the_address_typed(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A mistyped address erases nothing and keeps what was typed; the right one erases."""
    _, (reader_id,) = _readers(db, 1)
    token = signed_in(Role.ADMIN)
    url = f"/editor/subscribers/{reader_id}/erase"
    wrong = client.post(url, data={"csrf_token": token, "typed": "reader2@example.org"})
    assert wrong.status_code == 400
    assert "must match" in wrong.text
    assert 'value="reader2@example.org"' in wrong.text
    with db.session() as session:
        assert session.get(Subscriber, reader_id) is not None
    done = client.post(url, data={"csrf_token": token, "typed": " Reader1@example.org "})
    assert done.status_code == 303
    assert done.headers["location"] == "/editor/subscribers?done=erased"
    with db.session() as session:
        assert session.get(Subscriber, reader_id) is None
        entry = session.scalars(select(Suppression)).one()
        assert entry.email is None
        assert entry.reason is SuppressionReason.ERASED
    assert [e.target for e in _audited(db, "subscriber.erase")] == [str(reader_id)]
    gone = client.post(url, data={"csrf_token": token, "typed": "reader1@example.org"})
    assert gone.status_code == 303
    assert gone.headers["location"].endswith("done=reader-gone")
