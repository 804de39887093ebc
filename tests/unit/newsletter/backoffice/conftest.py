"""Fixtures for the editors' app: an app on a fresh database, accounts of each role, clients."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from newsletter.app.factory import create_app
from newsletter.db import Database
from newsletter.editors import services
from newsletter.editors.models import Role
from newsletter.settings import EmailBackend, Settings
from newsletter.web.deps import runtime_of

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@dataclass
class Accounts:
    """An API token per role, and the names to sign in with."""

    tokens: dict[Role, str]

    def bearer(self, role: Role) -> dict[str, str]:
        """The Authorization header of the account with ``role``."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def app(data_dir: Path) -> FastAPI:
    """The whole web app on a fresh SQLite database, sending mail to memory."""
    return create_app(Settings(data_dir=data_dir, email_backend=EmailBackend.MEMORY))


@pytest.fixture
def db(app: FastAPI) -> Database:
    """The app's database."""
    return app.state.runtime.database  # type: ignore[no-any-return]


@pytest.fixture
def accounts(db: Database) -> Accounts:
    """One account per role (named after it, with ``PASSWORD``) and an API token each."""
    tokens = {}
    with db.session() as session:
        for role in Role:
            editor = services.create_editor(
                session, role.value.capitalize(), f"{role.value}@example.org", role, PASSWORD
            )
            tokens[role] = services.mint_token(session, editor).secret
    return Accounts(tokens)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A browser-like client that does not follow redirects."""
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign ``name`` in and return a CSRF token of the new session."""
    token = csrf_of(client.get("/editor/login").text)
    response = client.post(
        "/editor/login", data={"name": name, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/editor/briefings").text)


@pytest.fixture
def signed_in(client: TestClient, accounts: Accounts) -> Callable[[Role], str]:
    """Sign in as the account with a role; returns the session's CSRF token."""
    return lambda role: sign_in(client, role.value.capitalize())


__all__ = ["PASSWORD", "Accounts", "csrf_of", "runtime_of", "sign_in"]
