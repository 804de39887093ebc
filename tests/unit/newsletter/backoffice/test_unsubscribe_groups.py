"""A publication's SendGrid unsubscribe groups per kind of mail: spec, TOML, CLI, forms, API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsletter.db import Database
from newsletter.editors.models import Role
from newsletter.errors import InvalidInputError
from newsletter.publications.models import Publication
from newsletter.publications.spec import load_toml, validate_spec
from tests.cli import run, run_json
from tests.factories import make_publication, publication_values
from tests.unit.newsletter.backoffice.conftest import Accounts
from tests.unit.newsletter.backoffice.test_publication_views import _settings_form
from tests.unit.newsletter.publications.test_personal_settings import ADD

SignIn = Callable[[Role], str]


def test_groups_default_to_none_and_must_differ() -> None:
    spec = validate_spec(publication_values(), where="test")
    assert (spec.digest_group_id, spec.alert_group_id) == (None, None)
    spec = validate_spec(publication_values(digest_group_id=41, alert_group_id=42), where="t")
    assert (spec.digest_group_id, spec.alert_group_id) == (41, 42)
    with pytest.raises(InvalidInputError) as caught:
        validate_spec(publication_values(digest_group_id=41, alert_group_id=41), where="t")
    assert "alert_group_id: group 41 is already the digest's unsubscribe group" in str(caught.value)
    for bad in ("41", 0, True, 2**31):
        with pytest.raises(InvalidInputError, match="digest_group_id"):
            validate_spec(publication_values(digest_group_id=bad), where="t")


def test_toml_sets_the_groups(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[[publication]]\nslug = "m"\nname = "M"\nfrom_email = "m@example.org"\n'
        'base_url = "https://m.example.org"\npostal_address = "1 St"\n'
        "digest_group_id = 41\nalert_group_id = 42\n",
        encoding="utf-8",
    )
    [spec] = load_toml(path)
    assert (spec.digest_group_id, spec.alert_group_id) == (41, 42)
    path.write_text(path.read_text().replace("= 42", '= "x"'), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="key 'alert_group_id'"):
        load_toml(path)


def test_cli_sets_and_clears_the_groups(cli_env: dict[str, str]) -> None:
    added = run(cli_env, *ADD, "--digest-group-id", "41", "--alert-group-id", "42")
    assert added.exit_code == 0, added.output
    shown = run_json(cli_env, "publications", "show", "evening")
    assert (shown["digest_group_id"], shown["alert_group_id"]) == (41, 42)
    cleared = run(cli_env, "publications", "edit", "evening", "--alert-group-id", "none")
    assert cleared.exit_code == 0, cleared.output
    assert run_json(cli_env, "publications", "show", "evening")["alert_group_id"] is None
    bad = run(cli_env, "publications", "edit", "evening", "--alert-group-id", "forty")
    assert bad.exit_code == 2
    assert "--alert-group-id: Input should be a valid integer" in bad.stderr
    same = run(cli_env, "publications", "edit", "evening", "--alert-group-id", "41")
    assert same.exit_code == 2
    assert "--alert-group-id: group 41 is already the digest's" in same.stderr
    assert run_json(cli_env, "publications", "show", "evening")["alert_group_id"] is None


def test_admin_sets_groups_on_the_settings_form(
    client: TestClient, db: Database, signed_in: SignIn
) -> None:
    with db.session() as session:
        make_publication(session)
    token = signed_in(Role.ADMIN)
    assert 'name="alert_group_id"' in client.get("/editor/publications/morning").text
    data = _settings_form(token, digest_group_id="41", alert_group_id="42")
    assert client.post("/editor/publications/morning", data=data).status_code == 303
    with db.session() as session:
        publication = session.query(Publication).one()
        assert (publication.digest_group_id, publication.alert_group_id) == (41, 42)
    form = client.get("/editor/publications/morning").text
    assert 'name="alert_group_id" type="number" value="42"' in form
    refused = client.post(
        "/editor/publications/morning",
        data=_settings_form(token, digest_group_id="41", alert_group_id="41"),
    )
    assert refused.status_code == 400
    assert "Alerts unsubscribe group: group 41 is already the digest&#39;s" in refused.text
    cleared = _settings_form(token, digest_group_id="", alert_group_id="42")
    assert client.post("/editor/publications/morning", data=cleared).status_code == 303
    with db.session() as session:
        publication = session.query(Publication).one()
        assert (publication.digest_group_id, publication.alert_group_id) == (None, 42)


def test_api_sets_and_removes_groups(client: TestClient, db: Database, accounts: Accounts) -> None:
    """A number sets a group; null removes it (where other fields' null keeps their value)."""
    with db.session() as session:
        make_publication(session)
    admin = accounts.bearer(Role.ADMIN)
    url = "/api/publications/morning"
    changed = client.patch(url, json={"digest_group_id": 41, "alert_group_id": 42}, headers=admin)
    assert changed.status_code == 200
    assert (changed.json()["digest_group_id"], changed.json()["alert_group_id"]) == (41, 42)
    kept = client.patch(url, json={"tagline": "Still grouped"}, headers=admin)
    assert kept.json()["alert_group_id"] == 42
    removed = client.patch(url, json={"alert_group_id": None}, headers=admin)
    assert (removed.json()["digest_group_id"], removed.json()["alert_group_id"]) == (41, None)
    same = client.patch(url, json={"alert_group_id": 41}, headers=admin)
    assert same.status_code == 409  # clashes with the stored digest group: a state conflict
    assert "alert_group_id" in same.json()["error"]
    assert client.patch(url, json={"alert_group_id": 0}, headers=admin).status_code == 422
