"""``newsletter editors add|list|disable|enable|token|revoke|password``: accounts and API tokens."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from newsletter.clicontext import ID, runtime
from newsletter.console import err, out, print_json
from newsletter.editors.roles import Role
from newsletter.errors import InvalidInputError

# Start-up stays cheap (``newsletter editors --help``): the services, and with them
# SQLAlchemy and argon2, are imported in the commands that use them.

CLI_ACTOR = "cli"


def _read_password(from_stdin: bool) -> str | None:
    """The password from stdin (one line), or None when not asked for."""
    from newsletter.editors import services

    if not from_stdin:
        return None
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise InvalidInputError("--password-stdin: no password on standard input")
    services.check_password(password, parameter="--password-stdin")
    return password


@click.group("editors")
def editors() -> None:
    """Editor accounts (editor, publisher, admin) and API tokens."""


@editors.command("add")
@click.argument("name")
@click.option("--email", required=True, help="The editor's address.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.EDITOR.value,
    show_default=True,
    help="editor: review and approve; publisher: also schedule and send; admin: everything.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password (12+ characters) from stdin."
)
@click.pass_context
def add(ctx: click.Context, name: str, email: str, role: str, password_stdin: bool) -> None:
    """Add an account; without a password it can only use API tokens."""
    from newsletter.editors import services

    password = _read_password(password_stdin)
    with runtime(ctx).database.session() as session:
        editor = services.add_editor(session, CLI_ACTOR, name, email, Role(role), password)
        summary = f"Added {editor.name} <{editor.email}> as {editor.role.value}"
    hint = "" if password else " (no password: sign-in disabled until one is set)"
    out.print(escape(summary + hint) + ".")


@editors.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List accounts with their role, state and live tokens."""
    from newsletter.editors import services

    with runtime(ctx).database.session() as session:
        rows: list[dict[str, Any]] = [
            {
                "name": e.name,
                "email": e.email,
                "role": e.role.value,
                "disabled": e.disabled,
                "has_password": bool(e.password_hash),
                "tokens": sum(t.revoked_at is None for t in e.tokens),
                "created_at": e.created_at.isoformat(),
            }
            for e in services.list_editors(session)
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No editors yet (newsletter editors add NAME --email ... --role admin).")
        return
    table = Table("name", "email", "role", "state", "tokens")
    for row in rows:
        table.add_row(
            escape(str(row["name"])),
            escape(str(row["email"])),
            str(row["role"]),
            "[red]disabled[/]" if row["disabled"] else "active",
            str(row["tokens"]),
        )
    out.print(table)


def _switch(verb: str, disabled: bool, help_text: str, done: str) -> click.Command:
    """``editors disable`` or ``enable``: set the account's flag, audited, then say ``done``."""

    @editors.command(verb, help=help_text)
    @click.argument("name")
    @click.pass_context
    def command(ctx: click.Context, name: str) -> None:
        from newsletter.editors import services

        with runtime(ctx).database.session() as session:
            editor = services.get_editor(session, name)
            services.switch_editor(session, CLI_ACTOR, editor, disabled)
        out.print(f"{done} {escape(editor.name)}.")

    return command


disable = _switch(
    "disable", True, "Disable an account: its sessions end and its tokens stop working.", "Disabled"
)
enable = _switch("enable", False, "Enable a disabled account again.", "Enabled")


@editors.command("password")
@click.argument("name")
@click.pass_context
def password(ctx: click.Context, name: str) -> None:
    """Set an account's password from stdin; its open sessions end."""
    from newsletter.editors import services

    secret = _read_password(True)
    assert secret is not None
    with runtime(ctx).database.session() as session:
        editor = services.get_editor(session, name)
        services.set_password(session, editor, secret)
        services.audit(session, CLI_ACTOR, "editor.password", editor.name)
    out.print(f"Password of {escape(editor.name)} changed.")


@editors.command("token")
@click.argument("name")
@click.option("--name", "label", default="api", show_default=True, help="What the token is for.")
@click.pass_context
def token(ctx: click.Context, name: str, label: str) -> None:
    """Mint an API token for an editor; it is printed once and only its hash is kept."""
    from newsletter.editors import services

    with runtime(ctx).database.session() as session:
        editor = services.get_editor(session, name)
        minted = services.mint_token(session, editor, label)
        services.audit(session, CLI_ACTOR, "token.mint", editor.name, token_id=minted.token.id)
        token_id = minted.token.id
    err.print(f"API token {token_id} for {escape(editor.name)} (shown once; keep it secret):")
    click.echo(minted.secret)


@editors.command("revoke")
@click.argument("token_id", type=ID)
@click.pass_context
def revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke an API token by its number."""
    from newsletter.editors import services

    with runtime(ctx).database.session() as session:
        revoked = services.revoke_token(session, token_id)
        services.audit(session, CLI_ACTOR, "token.revoke", revoked.editor.name, token_id=token_id)
    out.print(f"Revoked API token {token_id}.")
