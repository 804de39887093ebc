"""Decisions on a briefing page: corrections, derived titles, withdrawals and takedowns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.briefings import services as briefings
from newsletter.briefings.models import BriefingState
from newsletter.db import Database
from newsletter.digests import services as digests
from newsletter.digests.models import Digest
from newsletter.editors.models import Role
from newsletter.publications.services import get_publication
from newsletter.publishing.models import ChangeState, PublicChange
from tests.factories import briefing_content, make_briefing, make_publication

SignIn = Callable[[Role], str]
URL = "/editor/briefings/story"
DAY = date(2026, 3, 2)
CUTOFF = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
SECRET = "A libellous claim about a named person."


def _published(db: Database) -> int:
    """A publication with one published edition carrying ``story``; the digest's id."""
    with db.session() as session:
        make_publication(session)
        make_briefing(session, slug="story", title="Storm closes port", lede=SECRET)
        publication = get_publication(session, "morning")
        digest = digests.assemble_digest(session, publication, DAY, now=CUTOFF, cutoff=CUTOFF)
        digests.publish_digest(session, digest.digest.id)
        return digest.digest.id


def _revise(db: Database, **fields: object) -> None:
    with db.session() as session:
        content = briefing_content(slug="story", title="Storm closes port", **fields)
        briefings.import_content(session, content, editor="Ed")


def _briefing(db: Database) -> tuple[BriefingState, int | None]:
    with db.session() as session:
        briefing = briefings.get_briefing(session, "story")
        return briefing.state, briefing.approved_revision


def _changes(db: Database) -> list[tuple[str, ChangeState]]:
    with db.session() as session:
        rows = session.scalars(select(PublicChange).order_by(PublicChange.id))
        return [(row.reason, row.state) for row in rows]


def _web_copy(db: Database, digest_id: int) -> str:
    with db.session() as session:
        return session.get_one(Digest, digest_id).web_html or ""


def test_approving_a_published_briefing_again_is_a_correction(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The form asks for a note; without it nothing changes; with it the change goes public."""
    digest_id = _published(db)
    _revise(db, lede="The port reopened at noon.")
    token = signed_in(Role.EDITOR)
    page = client.get(URL).text
    assert "Correction note (readers see it, dated)" in page
    assert 'name="correction_note" required' in page
    assert "Approve the correction (revision 2)" in page
    assert "Changes since revision 1 (live)" in page
    assert f"<del>{SECRET}</del>" in page
    assert "<ins>The port reopened at noon.</ins>" in page

    refused = client.post(URL + "/approve", data={"csrf_token": token, "comment": "Checked"})
    assert refused.status_code == 422
    assert "approving it again is a correction" in refused.text
    assert 'value="Checked"' in refused.text
    assert _briefing(db) == (BriefingState.DRAFT, 1)
    assert _changes(db) == []

    note = "An earlier version said the port stayed shut <all day>."
    response = client.post(URL + "/approve", data={"csrf_token": token, "correction_note": note})
    assert response.status_code == 303
    assert response.headers["location"] == URL + "?done=corrected"
    assert _briefing(db) == (BriefingState.APPROVED, 2)
    # Recorded with the decision and flushed after the response (static export; no hub).
    assert _changes(db) == [("correction of story", ChangeState.DONE)]
    copy = _web_copy(db, digest_id)
    assert "The port reopened at noon." in copy
    assert "stayed shut &lt;all day&gt;." in copy
    after = client.get(response.headers["location"]).text
    assert "Correction approved." in after
    assert "Public changes" in after
    assert "stayed shut &lt;all day&gt;." in after


def test_a_derived_title_needs_confirming_before_approval(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The warning and the checkbox stay until the title is confirmed; approval requires it."""
    with db.session() as session:
        make_briefing(
            session,
            slug="story",
            title="The port closed on",
            title_derived=True,
            state=BriefingState.DRAFT,
            approved_revision=None,
        )
    token = signed_in(Role.EDITOR)
    page = client.get(URL).text
    assert "Title not confirmed." in page
    assert 'name="confirm_title" value="yes" required' in page
    refused = client.post(URL + "/approve", data={"csrf_token": token})
    assert refused.status_code == 422
    assert "was derived from the text; confirm it" in refused.text
    assert "Title not confirmed." in refused.text
    assert _briefing(db) == (BriefingState.DRAFT, None)
    done = client.post(URL + "/approve", data={"csrf_token": token, "confirm_title": "yes"})
    assert done.headers["location"] == URL + "?done=approved"
    page = client.get(URL).text
    assert "Title not confirmed." not in page
    assert "The derived title was confirmed by Editor." in page
    assert _changes(db) == []  # never published: nothing to make public


def test_withdrawing_a_published_briefing_goes_public(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A published briefing's withdrawal replaces its text on the web copy, after the response."""
    digest_id = _published(db)
    token = signed_in(Role.EDITOR)
    assert "Withdraw: replace its text with a notice" in client.get(URL).text
    response = client.post(URL + "/withdraw", data={"csrf_token": token, "reason": "Unsourced."})
    assert response.headers["location"] == URL + "?done=withdrawn"
    assert _briefing(db) == (BriefingState.WITHDRAWN, None)
    assert _changes(db) == [("withdrawal of story", ChangeState.DONE)]
    assert SECRET not in _web_copy(db, digest_id)


def test_only_publishers_and_admins_can_take_down(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """An editor sees no takedown form and is refused (403) server-side; nothing changes."""
    _published(db)
    token = signed_in(Role.EDITOR)
    assert "Take down" not in client.get(URL).text
    response = client.post(
        URL + "/takedown", data={"csrf_token": token, "reason": "Court order", "confirm": "yes"}
    )
    assert response.status_code == 403
    assert _briefing(db) == (BriefingState.APPROVED, 1)


def test_a_takedown_needs_a_reason_and_a_confirmation(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Missing either is refused on the page (422), the reason kept; with both the text goes."""
    digest_id = _published(db)
    token = signed_in(Role.PUBLISHER)
    page = client.get(URL).text
    assert "Take down “Storm closes port”" in page
    no_reason = client.post(URL + "/takedown", data={"csrf_token": token, "confirm": "yes"})
    assert no_reason.status_code == 422
    assert "Reason: say why" in no_reason.text
    unconfirmed = client.post(URL + "/takedown", data={"csrf_token": token, "reason": "Order 12"})
    assert unconfirmed.status_code == 422
    assert "Confirm: tick the box" in unconfirmed.text
    assert "Order 12</textarea>" in unconfirmed.text
    assert _briefing(db) == (BriefingState.APPROVED, 1)

    data = {"csrf_token": token, "reason": "Court order 12", "confirm": "yes"}
    response = client.post(URL + "/takedown", data=data)
    assert response.headers["location"] == URL + "?done=taken-down"
    assert _briefing(db)[0] is BriefingState.WITHDRAWN
    assert _changes(db) == [("takedown of story", ChangeState.DONE)]
    assert SECRET not in _web_copy(db, digest_id)
    page = client.get(response.headers["location"]).text
    assert "Taken down." in page
    assert "cannot be approved again" in page
    assert "Edit briefing" not in page
    assert "<h2>Decide</h2>" not in page
    again = client.post(URL + "/takedown", data=data)
    assert again.status_code == 409
    assert "already taken down" in again.text
    edit = client.get(URL + "/edit")
    assert edit.status_code == 409
    assert "was taken down: it cannot be edited" in edit.text
    form = {"csrf_token": token, "lede": "Back again.", "base_revision": "1"}
    assert client.post(URL + "/edit", data=form).status_code == 409
    assert client.post(URL + "/preview", data=form).status_code == 409


def test_takedown_needs_the_csrf_token(client: TestClient, db: Database, signed_in: SignIn) -> None:
    """A forged takedown is refused before anything happens."""
    _published(db)
    signed_in(Role.ADMIN)
    response = client.post(
        URL + "/takedown", data={"csrf_token": "0" * 64, "reason": "x", "confirm": "yes"}
    )
    assert response.status_code == 403
    assert _briefing(db) == (BriefingState.APPROVED, 1)


def test_edit_then_correct_end_to_end(client: TestClient, db: Database, signed_in: SignIn) -> None:
    """An editor edits a published briefing in the form, then approves it as a correction."""
    digest_id = _published(db)
    token = signed_in(Role.EDITOR)
    assert "Readers have seen this briefing" in client.get(URL + "/edit").text
    form = {
        "csrf_token": token,
        "base_revision": "1",
        "title": "Storm closes port",
        "lede": "The port closed for six hours.",
        "behind_the_headline": "## The background\n\nContext for story.",
        "priority": "0",
    }
    assert client.post(URL + "/edit", data=form).headers["location"] == URL + "?done=saved"
    note = "An earlier version overstated the closure."
    client.post(URL + "/approve", data={"csrf_token": token, "correction_note": note})
    copy = _web_copy(db, digest_id)
    assert "The port closed for six hours." in copy
    assert note in copy
    assert SECRET not in copy
