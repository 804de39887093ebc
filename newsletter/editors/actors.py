"""Who a command-line decision is recorded as: a real account, or the operator.

``--editor`` used to take any text and write it into the audit trail (``--editor
"Nobody At All"`` was accepted). Now it must name an editor account (by name or
email, case-insensitive; a disabled account is refused), and is recorded under the
account's own name. Without ``--editor`` the command records the operating-system
user who ran it, marked ``operator:`` so that nobody mistakes it for an account.
"""

from __future__ import annotations

import getpass

from sqlalchemy.orm import Session

from newsletter.editors.services import find_editor
from newsletter.errors import InvalidInputError

OPERATOR_MARK = "operator:"


def operator() -> str:
    """``operator:<user>``: the operating-system user running this command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = "unknown"
    return f"{OPERATOR_MARK}{user}"


def cli_actor(session: Session, editor: str | None, *, parameter: str = "--editor") -> str:
    """The name to record: the account ``editor`` names, or the marked operator."""
    if editor is None or not editor.strip():
        return operator()
    account = find_editor(session, editor)
    if account is None:
        raise InvalidInputError(
            f"{parameter}: no editor account {editor.strip()!r} (see `newsletter editors "
            f"list`); leave {parameter} out to be recorded as {operator()}"
        )
    if account.disabled:
        raise InvalidInputError(f"{parameter}: the account {account.name!r} is disabled")
    return account.name
