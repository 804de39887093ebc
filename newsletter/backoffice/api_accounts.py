"""API: the editors' accounts (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from newsletter.backoffice import schemas as s
from newsletter.backoffice.api_deps import Admin
from newsletter.editors import services as accounts
from newsletter.editors.auth import client_ip
from newsletter.editors.models import Editor, Role
from newsletter.web.deps import runtime_of

router = APIRouter()


def _out(editor: Editor) -> s.EditorOut:
    return s.EditorOut(
        name=editor.name,
        email=editor.email,
        role=editor.role.value,
        disabled=editor.disabled,
        created_at=editor.created_at,
    )


@router.get("/editors", response_model=list[s.EditorOut], summary="Accounts")
def editors(request: Request, user: Admin) -> list[s.EditorOut]:
    """Every account (admins)."""
    with runtime_of(request).database.session() as db:
        return [_out(e) for e in accounts.list_editors(db)]


@router.post("/editors", status_code=201, response_model=s.EditorOut, summary="Add an account")
def add_editor(request: Request, user: Admin, body: s.EditorIn) -> s.EditorOut:
    """Add an account (admins); without a password it can only use tokens."""
    with runtime_of(request).database.session() as db:
        role = Role(body.role)
        ip = client_ip(request)
        e = accounts.add_editor(db, user.name, body.name, body.email, role, body.password, ip=ip)
        return _out(e)
