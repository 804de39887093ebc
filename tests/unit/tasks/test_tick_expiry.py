"""The tick expires published briefings whose Expires time has passed, within one tick."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.briefings.models import Briefing, BriefingCorrection, CorrectionKind
from newsletter.db import utcnow
from newsletter.digests.models import Digest, DigestState
from newsletter.providers.memory import MemorySender
from newsletter.publishing import changes
from newsletter.runtime import Runtime
from newsletter.schedules import editions
from newsletter.settings import EmailBackend, Settings
from tests.factories import make_briefing
from tests.unit.newsletter.schedules import seed
from tests.unit.tasks.inline import Inline, inline

LEDE = "What happened in expiring."


@pytest.fixture
def pipeline(data_dir: Path, mailbox: MemorySender) -> Iterator[Inline]:
    """An inline pipeline on SQLite: a publication, two readers, and a briefing expiring in 1 h."""
    runtime = Runtime(Settings(data_dir=data_dir, email_backend=EmailBackend.MEMORY))
    runtime.ensure_schema()
    with runtime.database.session() as session:
        pub = seed.publication(session, created=utcnow() - timedelta(minutes=1))
        seed.readers(session, pub, 2)
        expires = (utcnow() + timedelta(hours=1)).isoformat()
        make_briefing(session, slug="expiring", expires=expires, approved_at=seed.CREATED)
    yield inline(runtime)
    runtime.close()


def database_of(driver: Inline) -> Runtime:
    """The runtime the inline app's tasks use."""
    from tasks.runtimes import runtime_of

    return runtime_of(driver.app)


def later(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> datetime:
    """Make the tick's clock ``delta`` later than now; the time it reads."""
    moment = utcnow() + delta
    monkeypatch.setattr("tasks.pipeline.utcnow", lambda: moment)
    return moment


def test_expiry_reaches_pages_and_the_export_within_one_tick(
    pipeline: Inline, mailbox: MemorySender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first tick after Expires marks the briefing expired and flushes its public change."""
    rt = database_of(pipeline)
    with rt.database.session() as session:
        editions.send_now(session, "morning")
    pipeline.run("tick")
    pipeline.drain()
    with rt.database.session() as session:
        digest = session.scalars(select(Digest)).one()
        assert digest.state is DigestState.SENT
        assert "expiring" in [item.content["slug"] for item in digest.items]
        assert LEDE in (digest.web_html or "")
    page = rt.settings.data_dir / "public" / "p" / "morning" / digest.edition_date.isoformat()
    assert pipeline.run("tick")["expired"] == 0  # not yet: its Expires time is an hour away

    moment = later(monkeypatch, timedelta(hours=2))
    result = pipeline.run("tick")
    assert result["expired"] == 1
    assert result["publishing"] == 1
    assert "publish_changes" in [m.step for m in pipeline.queue]
    pipeline.drain()
    with rt.database.session() as session:
        briefing = session.scalars(select(Briefing).where(Briefing.slug == "expiring")).one()
        assert briefing.expired_at == moment
        kinds = session.scalars(
            select(BriefingCorrection.kind).where(BriefingCorrection.briefing_id == briefing.id)
        ).all()
        assert kinds == [CorrectionKind.EXPIRY]
        digest = session.scalars(select(Digest)).one()
        assert LEDE not in (digest.web_html or "")  # the web copy shows the notice instead
        assert changes.list_changes(session) == []  # exported and announced
    exported = [p.read_text("utf-8") for p in page.rglob("*.html")]
    assert exported
    assert not any(LEDE in text for text in exported)
    assert pipeline.run("tick")["expired"] == 0  # expired once
