"""Audit names are real: ``--editor`` names an account, or the operator is recorded."""

from __future__ import annotations

import getpass

from sqlalchemy import select

from newsletter.briefings.models import BriefingEvent, BriefingState
from newsletter.db import Database
from newsletter.editors import services as accounts
from tests.cli import run
from tests.factories import make_briefing, make_editors, make_publication

DRAFT = {"state": BriefingState.DRAFT, "approved_at": None, "approved_revision": None}


def history(database: Database) -> list[str]:
    """Who each recorded briefing decision names, oldest first."""
    with database.session() as session:
        return list(session.scalars(select(BriefingEvent.editor).order_by(BriefingEvent.id)))


def test_an_unknown_editor_is_refused_and_nothing_recorded(
    cli_env: dict[str, str], database: Database
) -> None:
    """The measured fault: --editor "Nobody At All" was written into the audit trail."""
    with database.session() as session:
        make_publication(session)
        make_briefing(session, slug="story", **DRAFT)
    before = history(database)
    result = run(cli_env, "briefings", "approve", "story", "--editor", "Nobody At All")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: --editor: no editor account 'Nobody At All' (see `newsletter editors list`); "
        f"leave --editor out to be recorded as operator:{getpass.getuser()}"
    ]
    assert history(database) == before


def test_an_account_is_recorded_under_its_own_name(
    cli_env: dict[str, str], database: Database
) -> None:
    """Named by email or in another case, the decision carries the account's name."""
    make_editors(database, "Ada Lovelace")
    with database.session() as session:
        make_publication(session)
        make_briefing(session, slug="story", **DRAFT)
        make_briefing(session, slug="other", **DRAFT)
    assert run(cli_env, "briefings", "approve", "story", "--editor", "ada lovelace").exit_code == 0
    by_email = run(cli_env, "briefings", "reject", "other", "--editor", "ada.lovelace@example.org")
    assert by_email.exit_code == 0, by_email.output
    assert history(database)[-2:] == ["Ada Lovelace", "Ada Lovelace"]


def test_without_editor_the_operator_is_recorded_and_marked(
    cli_env: dict[str, str], database: Database
) -> None:
    """No --editor: the operating-system user, as operator:<user>, never a bare name."""
    with database.session() as session:
        make_publication(session)
        make_briefing(session, slug="story", **DRAFT)
    result = run(cli_env, "briefings", "approve", "story")
    assert result.exit_code == 0, result.output
    assert history(database)[-1] == f"operator:{getpass.getuser()}"


def test_a_disabled_account_cannot_decide(cli_env: dict[str, str], database: Database) -> None:
    """A disabled account is refused like an unknown one, naming --editor."""
    make_editors(database, "Grace")
    with database.session() as session:
        accounts.get_editor(session, "Grace").disabled = True
        make_publication(session)
        make_briefing(session, slug="story", **DRAFT)
    result = run(cli_env, "briefings", "approve", "story", "--editor", "Grace")
    assert result.exit_code == 2
    assert "--editor: the account 'Grace' is disabled" in result.output
