"""Personal data requests: export everything we hold about an address, or erase it.

Erasure deletes the subscriber, their subscriptions and consent records, and keeps
only the SHA-256 of the address in the suppression list, so a later CSV import of an
old file cannot quietly re-add them. A new sign-up through the double opt-in can.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from newsletter.errors import NotFoundError
from subscribers.addresses import email_hash, normalise_email
from subscribers.models import Consent, SignupAttempt, Subscriber, Suppression, SuppressionReason
from subscribers.ratelimit import attempt_key


def export_data(session: Session, raw_email: str) -> dict[str, Any]:
    """Everything stored about an address, as JSON-ready values."""
    email = normalise_email(raw_email)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
    suppression = session.scalar(
        select(Suppression).where(Suppression.email_hash == email_hash(email))
    )
    if subscriber is None and suppression is None:
        raise NotFoundError(f"email: we hold no data about {email!r}")
    data: dict[str, Any] = {"email": email, "subscriber": None, "subscriptions": [], "consents": []}
    if subscriber is not None:
        data["subscriber"] = {
            "name": subscriber.name,
            "locale": subscriber.locale,
            "timezone": subscriber.timezone,  # None: each publication's own zone
            "created_at": subscriber.created_at.isoformat(),
            "updated_at": subscriber.updated_at.isoformat(),
        }
        data["subscriptions"] = [_subscription(item) for item in subscriber.subscriptions]
        consents = session.scalars(
            select(Consent).where(Consent.subscriber_id == subscriber.id).order_by(Consent.id)
        )
        slugs = {item.list_id: item.mailing_list.slug for item in subscriber.subscriptions}
        data["consents"] = [
            {
                "list": slugs.get(consent.list_id, str(consent.list_id)),
                "from_state": consent.from_state,
                "to_state": consent.to_state,
                "source": consent.source.value,
                "text": consent.text,
                "ip": consent.ip,
                "user_agent": consent.user_agent,
                "at": consent.at.isoformat(),
            }
            for consent in consents
        ]
    data["suppression"] = (
        {
            "reason": suppression.reason.value,
            "note": suppression.note,
            "since": suppression.created_at.isoformat(),
        }
        if suppression is not None
        else None
    )
    return data


def _subscription(subscription: Any) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "list": subscription.mailing_list.slug,
        "state": subscription.state.value,
        "topics": list(subscription.topics),
        "cadence": subscription.cadence.value,
        "weekly_day": subscription.weekly_day,
        "digests": subscription.digests,
        "alerts": subscription.alerts,
        "alert_topics": list(subscription.alert_topics or ()),
        "paused_until": iso(subscription.paused_until),
        "confirmed_at": iso(subscription.confirmed_at),
        "unsubscribed_at": iso(subscription.unsubscribed_at),
        "created_at": iso(subscription.created_at),
    }


def erase(session: Session, raw_email: str) -> None:
    """Delete every personal datum about an address, keeping only its hash as suppressed."""
    email = normalise_email(raw_email)
    digest = email_hash(email)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
    suppression = session.scalar(select(Suppression).where(Suppression.email_hash == digest))
    if subscriber is None and (suppression is None or suppression.email is None):
        raise NotFoundError(f"email: we hold no personal data about {email!r}")
    if subscriber is not None:
        session.execute(delete(Consent).where(Consent.subscriber_id == subscriber.id))
        session.delete(subscriber)
    session.execute(delete(SignupAttempt).where(SignupAttempt.key == attempt_key("email", email)))
    if suppression is None:
        session.add(
            Suppression(email_hash=digest, email=None, reason=SuppressionReason.ERASED, note="")
        )
    else:
        suppression.email = None
        suppression.note = ""
    session.flush()
