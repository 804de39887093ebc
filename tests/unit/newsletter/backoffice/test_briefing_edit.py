"""Editing a briefing in the editors' app: the form, the preview, saving, errors, CSRF."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from newsletter.briefings import services as briefings
from newsletter.briefings.models import BriefingState
from newsletter.db import Database
from newsletter.editors.models import Role
from tests.factories import make_briefing
from tests.unit.newsletter.backoffice.conftest import csrf_of

SignIn = Callable[[Role], str]
URL = "/editor/briefings/rail-strike"
_INPUT = re.compile(r'<input id="f-[^"]+" name="(\w+)" type="\w+" value="([^"]*)"')
_AREA = re.compile(r'<textarea id="f-[^"]+" name="(\w+)"[^>]*>(.*?)</textarea>', re.S)


def _briefing(db: Database, **extra: object) -> None:
    with db.session() as session:
        make_briefing(session, slug="rail-strike", title="Rail strike ends", **extra)


def _unescape(text: str) -> str:
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&#34;", '"'), ("&#39;", "'")):
        text = text.replace(entity, char)
    return text.replace("&amp;", "&")


def _form(client: TestClient) -> dict[str, str]:
    """The edit form's fields as the page fills them in, with its CSRF token."""
    html = client.get(URL + "/edit").text
    values = {name: _unescape(value) for name, value in _INPUT.findall(html)}
    values.update({name: _unescape(value) for name, value in _AREA.findall(html)})
    values["csrf_token"] = csrf_of(html)
    match = re.search(r'name="base_revision" value="(\d+)"', html)
    assert match
    values["base_revision"] = match.group(1)
    return values


def _revisions(db: Database) -> tuple[int, str, str, BriefingState]:
    """The latest revision's number, title and source, and the briefing's state."""
    with db.session() as session:
        briefing = briefings.get_briefing(session, "rail-strike")
        latest = briefings.revision(session, briefing)
        return briefing.latest_revision, latest.title, latest.source or "", briefing.state


def test_the_form_is_prefilled_from_the_latest_revision(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Every field holds the revision's text; the slug is shown, not editable; the preview too."""
    _briefing(db, how_we_got_here=["It began.", "It went on."], source="The Paper")
    signed_in(Role.EDITOR)
    response = client.get(URL + "/edit")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    form = _form(client)
    assert form["title"] == "Rail strike ends"
    assert form["how_we_got_here"] == "It began.\n\nIt went on."
    assert form["behind_the_headline"].startswith("## ")
    assert form["source"] == "The Paper"
    assert "slug" not in form
    assert "<code>rail-strike</code>" in response.text
    assert '<article class="briefing" id="rail-strike">' in response.text
    assert 'src="/editor/assets/briefing-edit.js"' in response.text
    assert "Save revision 2" in response.text
    assert "Readers have seen this briefing" not in response.text  # never published


def test_the_briefing_page_links_to_the_form(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """One briefing's page offers the edit form."""
    _briefing(db)
    signed_in(Role.EDITOR)
    assert f'href="{URL}/edit"' in client.get(URL).text


def test_text_is_escaped_in_the_form_and_the_preview(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Markup typed by an editor is shown as text in the fields, the errors and the preview."""
    _briefing(db)
    signed_in(Role.EDITOR)
    form = _form(client)
    evil = '<script>alert("x")</script> & co.'
    response = client.post(
        URL + "/edit", data={**form, "title": evil, "lede": evil, "do": "preview"}
    )
    assert response.status_code == 200
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co." in response.text
    response = client.post(URL + "/edit", data={**form, "topics": evil, "do": "preview"})
    assert response.status_code == 422
    assert "<script>alert" not in response.text


def test_preview_without_javascript_shows_the_briefing_and_saves_nothing(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The Preview button returns the page with the archive fragment of the typed text."""
    _briefing(db)
    signed_in(Role.EDITOR)
    form = _form(client)
    response = client.post(
        URL + "/edit", data={**form, "title": "Rail strike called off", "do": "preview"}
    )
    assert response.status_code == 200
    assert ">Rail strike called off</a></h2>" in response.text
    assert 'value="Rail strike called off"' in response.text
    assert _revisions(db)[0] == 1


def test_saving_adds_a_revision_written_by_the_editor(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Save makes revision 2 with the editor as its author; the briefing goes back to review."""
    _briefing(db)
    signed_in(Role.EDITOR)
    form = _form(client)
    response = client.post(
        URL + "/edit", data={**form, "title": "Rail strike called off", "do": "save"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == URL + "?done=saved"
    assert _revisions(db) == (2, "Rail strike called off", "editor:Editor", BriefingState.DRAFT)
    with db.session() as session:
        last = briefings.history(session, briefings.get_briefing(session, "rail-strike"))[-1]
        assert (last.editor, last.action, last.revision) == ("Editor", "revise", 2)
    page = client.get(response.headers["location"])
    assert "Saved as a new revision" in page.text


def test_saving_the_form_untouched_changes_nothing(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The same text is no new revision, and the editor is told so."""
    _briefing(db)
    signed_in(Role.EDITOR)
    response = client.post(URL + "/edit", data={**_form(client), "do": "save"})
    assert response.headers["location"] == URL + "?done=unchanged"
    assert _revisions(db)[0] == 1


def test_invalid_fields_are_named_kept_and_nothing_is_saved(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A wrong field gives 422 with its message beside it; the typed text is kept."""
    _briefing(db)
    signed_in(Role.EDITOR)
    form = _form(client)
    response = client.post(
        URL + "/edit",
        data={**form, "questions": "Why?\nBecause.", "priority": "high", "do": "save"},
    )
    assert response.status_code == 422
    text = response.text
    assert "Nothing was saved: 2 fields need attention." in text
    assert '<a href="#f-questions">Go deeper</a>: line 1: start with a line' in text
    assert 'id="f-priority-error">a whole number from -100 to 100</p>' in text
    assert 'aria-invalid="true"' in text
    assert "Why?\nBecause.</textarea>" in text
    assert 'value="high"' in text
    assert _revisions(db)[0] == 1


def test_the_import_checks_apply_to_the_form(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A check the import makes (here: the URL) refuses the save, naming the field."""
    _briefing(db)
    signed_in(Role.EDITOR)
    response = client.post(
        URL + "/edit", data={**_form(client), "url": "javascript:alert(1)", "do": "save"}
    )
    assert response.status_code == 422
    assert '<a href="#f-url">URL</a>: String should match pattern' in response.text
    assert _revisions(db)[0] == 1


def test_a_revision_saved_meanwhile_is_not_overwritten_silently(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """If someone saved since the form was opened, the save stops (409) and says who."""
    _briefing(db)
    signed_in(Role.EDITOR)
    form = _form(client)
    with db.session() as session:
        content = briefings.revision(session, briefings.get_briefing(session, "rail-strike"))
        changed = content.parsed().model_copy(update={"title": "Changed by import"})
        briefings.import_content(session, changed, source="feed.txt")
    response = client.post(URL + "/edit", data={**form, "title": "Mine", "do": "save"})
    assert response.status_code == 409
    assert "Revision 2 was saved by import after you opened this form" in response.text
    assert 'name="base_revision" value="2"' in response.text
    assert _revisions(db)[1] == "Changed by import"
    again = client.post(URL + "/edit", data={**form, "base_revision": "2", "title": "Mine"})
    assert again.status_code == 303
    assert _revisions(db)[:2] == (3, "Mine")


def test_live_preview_returns_the_fragment_or_the_problems(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The script's endpoint answers the archive fragment alone, or 422 with the fields to fix."""
    _briefing(db)
    signed_in(Role.EDITOR)
    form = _form(client)
    response = client.post(URL + "/preview", data={**form, "lede": "Trains & buses run."})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.text.lstrip().startswith('<article class="briefing" id="rail-strike">')
    assert "Trains &amp; buses run." in response.text
    assert "<html" not in response.text
    response = client.post(URL + "/preview", data={**form, "lede": ""})
    assert response.status_code == 422
    assert '<a href="#f-lede">What&#39;s happened</a>: write at least one paragraph' in (
        response.text
    )
    assert _revisions(db)[0] == 1


@pytest.mark.parametrize("path", ["/edit", "/preview"])
def test_posts_need_the_csrf_token(
    client: TestClient, db: Database, signed_in: SignIn, path: str
) -> None:
    """Without this session's token the post is refused (403) and nothing is saved."""
    _briefing(db)
    signed_in(Role.EDITOR)
    form = {**_form(client), "title": "Forged"}
    for token in ("", "0" * 64):
        response = client.post(URL + path, data={**form, "csrf_token": token})
        assert response.status_code == 403
    assert _revisions(db)[:2] == (1, "Rail strike ends")


def test_strangers_cannot_open_or_post_the_form(client: TestClient, db: Database) -> None:
    """Without a session the form redirects to sign-in and a post is refused."""
    _briefing(db)
    response = client.get(URL + "/edit")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/editor/login?next=")
    assert client.post(URL + "/edit", data={"title": "x"}).status_code == 403
    assert _revisions(db)[0] == 1


def test_an_unknown_briefing_is_a_404_page(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """Editing a slug that does not exist is a 404 page, never a 500."""
    token = signed_in(Role.EDITOR)
    assert client.get("/editor/briefings/nope/edit").status_code == 404
    response = client.post(
        "/editor/briefings/nope/edit", data={"csrf_token": token, "lede": "Text."}
    )
    assert response.status_code == 404
    response = client.post(
        "/editor/briefings/nope/preview", data={"csrf_token": token, "lede": "Text."}
    )
    assert response.status_code == 404


def test_a_derived_title_is_flagged_on_the_form(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """A derived title is flagged and left out of the field, so saving keeps it derived."""
    _briefing(db, title_derived=True)
    signed_in(Role.EDITOR)
    page = client.get(URL + "/edit").text
    assert "was derived from the first sentence" in page
    assert 'name="title" type="text" value=""' in page
    assert 'placeholder="Rail strike ends"' in page


def test_the_script_is_served(client: TestClient) -> None:
    """The live preview's script is served as JavaScript to anyone (it holds no data)."""
    response = client.get("/editor/assets/briefing-edit.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert 'getElementById("edit-form")' in response.text


def test_embargo_and_expiry_can_be_set_on_the_form(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    """The form has Embargo and Expires inputs and saves them into the new revision."""
    _briefing(db)
    signed_in(Role.EDITOR)
    form = _form(client)
    assert form["embargo"] == form["expires"] == ""
    data = {**form, "embargo": "2030-05-01T07:00:00+02:00", "expires": "2030-06-01T00:00:00Z"}
    assert client.post(URL + "/edit", data=data).status_code == 303
    with db.session() as session:
        content = briefings.revision(session, briefings.get_briefing(session, "rail-strike"))
        assert content.content["embargo"] == "2030-05-01T07:00:00+02:00"
        assert content.content["expires"] == "2030-06-01T00:00:00Z"
    assert _form(client)["embargo"] == "2030-05-01T07:00:00+02:00"
