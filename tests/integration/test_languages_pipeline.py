"""A publication offering English and German, on the production stack.

PostgreSQL, Redis, real worker and beat processes and the SendGrid test server: each
reader gets the edition once, in their own language (German readers by their chosen
locale, the rest in the publication's default), and the edition is rendered twice,
once per language, never per reader.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from newsletter.delivery.models import Delivery
from newsletter.digests.models import Digest, DigestState, DigestVariant
from subscribers.models import Subscriber
from tests.integration.pipeline_stack import FINAL, Stack, redis_stack
from tests.unit.newsletter.schedules import seed

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

READERS = 60  # the even-numbered half chose German
GERMAN = {f"reader{n}@example.org" for n in range(2, READERS + 1, 2)}
ENGLISH = {f"reader{n}@example.org" for n in range(1, READERS + 1, 2)}


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[Stack]:
    """A deployment on a fresh PostgreSQL database and an empty Redis database."""
    with redis_stack(tmp_path, pg_url, batch_size=20) as deployment:
        with deployment.session() as session:
            pub = seed.publication(session, languages=["en", "de"])
            seed.readers(session, pub, READERS)
            session.execute(
                update(Subscriber).where(Subscriber.email.in_(GERMAN)).values(locale="de")
            )
        yield deployment


def _language_of(payload: dict[str, object]) -> str:
    """Which language a request's email is in, from its chrome (both parts)."""
    body = json.dumps(payload, ensure_ascii=False)
    german = "In dieser Ausgabe" in body and "Im Web lesen" in body
    english = "In this edition" in body and "Read on the web" in body
    assert german != english, f"a request in neither or both languages: {body[:300]}"
    return "de" if german else "en"


def test_each_reader_gets_their_language_once_rendered_once_per_language(stack: Stack) -> None:
    """60 readers, two languages: one copy each, in the right language; two renderings."""
    stack.send_now()
    stack.start("worker")
    stack.start("beat")
    try:
        stack.wait(lambda: stack.digest_state() in FINAL, timeout=180, what="the edition")
        assert stack.digest_state() is DigestState.SENT
        copies = stack.copies()
        assert set(copies) == GERMAN | ENGLISH
        assert set(copies.values()) == {1}, "a reader got two copies"
        assert stack.server is not None
        got: dict[str, str] = {}
        for request in stack.server.accepted:
            language = _language_of(request.payload)
            got.update(dict.fromkeys(request.recipients, language))
            html = next(c["value"] for c in request.payload["content"] if c["type"] == "text/html")
            assert f'lang="{language}"' in html
        assert {a for a, language in got.items() if language == "de"} == GERMAN
        assert {a for a, language in got.items() if language == "en"} == ENGLISH
        with stack.session() as session:
            digest = session.scalars(select(Digest)).one()
            variants = session.scalars(
                select(DigestVariant).where(DigestVariant.digest_id == digest.id)
            ).all()
            # The default language is the digest's own rendering; German is one variant.
            assert [v.language for v in variants] == ["de"]
            by_variant = dict(
                session.execute(
                    select(Subscriber.email, Delivery.variant_id).join(
                        Delivery, Delivery.subscriber_id == Subscriber.id
                    )
                ).all()
            )
        assert {by_variant[a] for a in GERMAN} == {variants[0].id}
        assert {by_variant[a] for a in ENGLISH} == {None}
        stack.assert_events_delivered()
    except AssertionError:
        print(stack.logs())
        raise
