"""Editor services: accounts, passwords (argon2), API tokens and the audit trail.

Every function takes an open ``Session`` and leaves committing to the caller.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.db import utcnow
from newsletter.editors.models import ApiToken, AuditEntry, Editor, Role
from newsletter.errors import ConflictError, InvalidInputError, NotFoundError

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 hashes anything, but a megabyte "password" is an attack
TOKEN_PREFIX = "nlt_"  # noqa: S105 - a marker that makes leaked tokens easy to spot
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._'-]{0,118}[A-Za-z0-9.]$|^[A-Za-z0-9]$"
_NAME = re.compile(NAME_PATTERN)

# One hasher per process; its defaults follow RFC 9106's second recommended profile.
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so a wrong name costs as long
    as a wrong password and the response time does not tell which names exist. Made on
    first use, not at import: every command imported this module, and paid for a hash.
    """
    return _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` after checking its length."""
    check_password(password)
    return _HASHER.hash(password)


def check_password(password: str, *, parameter: str = "password") -> None:
    """Refuse passwords that are too short or absurdly long."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInputError(f"{parameter}: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInputError(f"{parameter}: at most {MAX_PASSWORD} characters")


def verify_password(editor: Editor | None, password: str) -> bool:
    """Whether ``password`` is the editor's; re-hashes in place when parameters changed."""
    stored = editor.password_hash if editor is not None and editor.password_hash else _dummy_hash()
    try:
        _HASHER.verify(stored, password[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if editor is None or not editor.password_hash:
        return False
    if _HASHER.check_needs_rehash(stored):
        editor.password_hash = _HASHER.hash(password)
    return True


def clean_name(name: str, *, parameter: str = "NAME") -> str:
    """A valid account name: letters, digits, spaces and ``._'-``, 1 to 120 characters."""
    name = name.strip()
    if not _NAME.match(name):
        raise InvalidInputError(
            f"{parameter}: 1 to 120 letters, digits, spaces or . _ ' - "
            "(starting with a letter or digit)"
        )
    return name


def clean_email(email: str, *, parameter: str = "--email") -> str:
    """A syntactically valid address, lower-cased domain (no DNS look-up)."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInputError(f"{parameter}: {exc}") from None


def create_editor(
    session: Session, name: str, email: str, role: Role, password: str | None = None
) -> Editor:
    """Add an account; names and emails are unique (case-insensitively)."""
    name = clean_name(name)
    email = clean_email(email)
    if find_editor(session, name) is not None:
        raise ConflictError(f"NAME: an editor called {name!r} already exists")
    if find_editor(session, email) is not None:
        raise ConflictError(f"--email: {email} is already used by another editor")
    editor = Editor(
        name=name,
        email=email,
        role=role,
        password_hash=hash_password(password) if password is not None else "",
        created_at=utcnow(),
    )
    session.add(editor)
    session.flush()
    return editor


def find_editor(session: Session, name: str) -> Editor | None:
    """The editor with this name (case-insensitive) or email, if any."""
    key = name.strip()
    column = Editor.email if "@" in key else Editor.name
    return session.scalar(select(Editor).where(func.lower(column) == key.lower()))


def get_editor(session: Session, name: str) -> Editor:
    """The editor with this name or email, or ``NotFoundError``."""
    editor = find_editor(session, name)
    if editor is None:
        raise NotFoundError(f"no editor called {name!r}")
    return editor


def list_editors(session: Session) -> list[Editor]:
    """Every account, by name."""
    return list(session.scalars(select(Editor).order_by(Editor.name)))


def set_password(session: Session, editor: Editor, password: str) -> None:
    """Replace the password; every open session of the account ends."""
    editor.password_hash = hash_password(password)
    editor.session_version += 1
    session.flush()


def end_sessions(session: Session, editor_id: int, version: int) -> Editor | None:
    """Sign out: the account's session version moves on, so every cookie it issued dies.

    Only a session that is still live (its ``version`` is the account's) moves it on;
    a stale cookie signing out again changes nothing. The editor, or ``None`` then.
    """
    editor = session.get(Editor, editor_id)
    if editor is None or editor.session_version != version:
        return None
    editor.session_version += 1
    session.flush()
    return editor


def set_disabled(session: Session, editor: Editor, disabled: bool = True) -> Editor:
    """Disable (or re-enable) an account; disabling ends its sessions and stops its tokens."""
    if disabled and not editor.disabled:
        editor.session_version += 1
    editor.disabled = disabled
    session.flush()
    return editor


def set_role(session: Session, editor: Editor, role: Role) -> Editor:
    """Give the account another role; open sessions pick it up on their next request."""
    editor.role = role
    session.flush()
    return editor


@dataclass(frozen=True)
class MintedToken:
    """A new API token: the secret (shown once) and its stored row."""

    secret: str
    token: ApiToken


def _token_hash(secret: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def mint_token(session: Session, editor: Editor, name: str = "api") -> MintedToken:
    """A new bearer token for ``editor``; only its hash is stored."""
    label = name.strip()
    if not label or len(label) > 120:
        raise InvalidInputError("--name: 1 to 120 characters")
    if editor.disabled:
        raise InvalidInputError(f"{editor.name} is disabled: enable the account first")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        editor_id=editor.id, name=label, token_hash=_token_hash(secret), created_at=utcnow()
    )
    session.add(token)
    session.flush()
    return MintedToken(secret, token)


def editor_for_token(
    session: Session, secret: str, *, now: datetime | None = None
) -> Editor | None:
    """The enabled editor a live token belongs to (marking the token used), or None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(secret)))
    if token is None or token.revoked_at is not None or token.editor.disabled:
        return None
    token.last_used_at = now or utcnow()
    return token.editor


def revoke_token(session: Session, token_id: int) -> ApiToken:
    """Revoke a token for good."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError(f"no API token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    session.flush()
    return token


def audit(
    session: Session,
    actor: str,
    action: str,
    target: str = "",
    *,
    ip: str = "",
    **detail: Any,
) -> AuditEntry:
    """Record that ``actor`` did ``action`` to ``target``."""
    entry = AuditEntry(
        at=utcnow(),
        actor=actor[:120],
        action=action,
        target=target[:300],
        ip=ip[:64],
        detail=detail,
    )
    session.add(entry)
    session.flush()
    return entry


def add_editor(
    session: Session,
    actor: str,
    name: str,
    email: str,
    role: Role,
    password: str | None,
    *,
    ip: str = "",
) -> Editor:
    """``create_editor``, recorded in the audit trail as ``actor``'s ``editor.add``."""
    editor = create_editor(session, name, email, role, password)
    audit(session, actor, "editor.add", editor.name, ip=ip, role=role.value)
    return editor


def switch_editor(
    session: Session, actor: str, editor: Editor, disabled: bool, *, ip: str = ""
) -> Editor:
    """``set_disabled``, recorded as ``actor``'s ``editor.disable`` or ``editor.enable``."""
    set_disabled(session, editor, disabled)
    action = "editor.disable" if disabled else "editor.enable"
    audit(session, actor, action, editor.name, ip=ip)
    return editor


def audit_log(session: Session, *, limit: int = 200, actor: str | None = None) -> list[AuditEntry]:
    """The newest audit entries first, optionally of one actor."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    return list(session.scalars(query))
