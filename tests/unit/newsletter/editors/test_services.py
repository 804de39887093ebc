"""Accounts, argon2 passwords, API tokens and the audit trail."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from newsletter.db import Database
from newsletter.editors import services
from newsletter.editors.models import Role
from newsletter.errors import InvalidInputError, NotFoundError


def test_roles_are_ordered() -> None:
    """Each role includes the ones before it and none after."""
    assert Role.ADMIN.allows(Role.PUBLISHER)
    assert Role.PUBLISHER.allows(Role.EDITOR)
    assert not Role.EDITOR.allows(Role.PUBLISHER)
    assert not Role.PUBLISHER.allows(Role.ADMIN)


def test_passwords_are_argon2_and_verified(database: Database) -> None:
    """The stored hash is argon2id; the right password verifies, a wrong one does not."""
    with database.session() as session:
        editor = services.create_editor(session, "Ann", "ann@example.org", Role.EDITOR, "p" * 12)
        assert editor.password_hash.startswith("$argon2id$")
        assert services.verify_password(editor, "p" * 12)
        assert not services.verify_password(editor, "q" * 12)
        assert not services.verify_password(None, "p" * 12)


def test_outdated_hashes_are_upgraded_on_sign_in(database: Database) -> None:
    """A hash made with weaker parameters is replaced after a successful check."""
    with database.session() as session:
        editor = services.create_editor(session, "Ann", "ann@example.org", Role.EDITOR)
        editor.password_hash = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(
            "p" * 12
        )
        assert services.verify_password(editor, "p" * 12)
        assert PasswordHasher().check_needs_rehash(editor.password_hash) is False


def test_account_without_password_cannot_sign_in(database: Database) -> None:
    """An account made for tokens only has no password that could match."""
    with database.session() as session:
        editor = services.create_editor(session, "Bot", "bot@example.org", Role.EDITOR)
        assert not services.verify_password(editor, "")
        assert not services.verify_password(editor, "anything at all")


@pytest.mark.parametrize(
    ("name", "email", "password", "message"),
    [
        ("", "a@example.org", None, "NAME"),
        ("<script>", "a@example.org", None, "NAME"),
        ("Ann", "not-an-address", None, "--email"),
        ("Ann", "a@example.org", "short", "at least 12"),
        ("Ann", "a@example.org", "x" * 2000, "at most"),
    ],
)
def test_bad_accounts_are_refused(
    database: Database, name: str, email: str, password: str | None, message: str
) -> None:
    """Bad names, addresses and passwords are refused with the parameter named."""
    with database.session() as session, pytest.raises(InvalidInputError, match=message):
        services.create_editor(session, name, email, Role.EDITOR, password)


def test_names_and_emails_are_unique_case_insensitively(database: Database) -> None:
    """A second Ann or a second ann@ address is refused; look-up ignores case."""
    with database.session() as session:
        services.create_editor(session, "Ann", "ann@example.org", Role.EDITOR)
        with pytest.raises(InvalidInputError, match="already exists"):
            services.create_editor(session, "ANN", "other@example.org", Role.EDITOR)
        with pytest.raises(InvalidInputError, match="already used"):
            services.create_editor(session, "Bea", "ANN@example.org", Role.EDITOR)
        assert services.get_editor(session, "ann").name == "Ann"
        assert services.get_editor(session, "Ann@Example.org").name == "Ann"
        with pytest.raises(NotFoundError):
            services.get_editor(session, "nobody")


def test_tokens_are_hashed_shown_once_and_revocable(database: Database) -> None:
    """Only the hash is stored; a revoked token or a disabled account finds nobody."""
    with database.session() as session:
        editor = services.create_editor(session, "Ann", "ann@example.org", Role.EDITOR)
        minted = services.mint_token(session, editor, "ci")
        assert minted.secret.startswith("nlt_")
        assert minted.secret not in minted.token.token_hash
        assert services.editor_for_token(session, minted.secret) is editor
        assert services.editor_for_token(session, minted.secret + "x") is None
        services.revoke_token(session, minted.token.id)
        assert services.editor_for_token(session, minted.secret) is None
        second = services.mint_token(session, editor)
        services.set_disabled(session, editor)
        assert services.editor_for_token(session, second.secret) is None
        with pytest.raises(InvalidInputError, match="disabled"):
            services.mint_token(session, editor)
        with pytest.raises(InvalidInputError, match="--name"):
            services.mint_token(session, services.set_disabled(session, editor, False), " ")
        with pytest.raises(NotFoundError):
            services.revoke_token(session, 999)


def test_password_change_and_disable_end_sessions(database: Database) -> None:
    """Changing the password or disabling bumps the session version; roles can change."""
    with database.session() as session:
        editor = services.create_editor(session, "Ann", "ann@example.org", Role.EDITOR)
        services.set_password(session, editor, "n" * 12)
        assert editor.session_version == 2
        services.set_disabled(session, editor)
        assert editor.session_version == 3
        assert services.set_role(session, editor, Role.ADMIN).role is Role.ADMIN


def test_audit_records_who_what_when(database: Database) -> None:
    """Audit entries keep actor, action, target and details, newest first."""
    with database.session() as session:
        services.audit(session, "Ann", "first")
        services.audit(session, "Bea", "second", "morning", ip="10.0.0.1", to="x@example.org")
        log = services.audit_log(session)
        assert [e.action for e in log] == ["second", "first"]
        assert log[0].detail == {"to": "x@example.org"}
        assert log[0].ip == "10.0.0.1"
        assert [e.action for e in services.audit_log(session, actor="Ann")] == ["first"]
