"""Migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from newsletter import migrate
from newsletter.db import Database
from newsletter.models import Base


def _diff(database: Database) -> list[object]:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_from_empty_matches_models(any_database: Database) -> None:
    """Upgrading an empty database yields exactly the tables and columns of the models."""
    assert not migrate.pending(any_database.engine)
    assert _diff(any_database) == []


def test_downgrade_then_upgrade_round_trips(any_database: Database) -> None:
    """Every migration can be undone and re-applied."""
    migrate.downgrade(any_database.engine)
    assert migrate.current_heads(any_database.engine) == set()
    assert migrate.pending(any_database.engine)
    migrate.upgrade(any_database.engine)
    assert not migrate.pending(any_database.engine)
    assert _diff(any_database) == []


def test_a_branch_behind_its_head_is_pending(database: Database) -> None:
    """Rolling one feature branch back one step makes migrations pending again."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(database.engine))
    base_revisions = [rev for rev in script.walk_revisions() if rev.down_revision is None]
    assert len(base_revisions) >= 2  # several feature branches
    migrate.downgrade(database.engine, "briefings@base")
    assert migrate.pending(database.engine)
    migrate.upgrade(database.engine)
    assert not migrate.pending(database.engine)


def test_a_url_with_a_percent_sign_migrates(tmp_path: Path) -> None:
    """A "%" in the URL (a percent-encoded password, a folder name) is not an error."""
    folder = tmp_path / "100% data"
    folder.mkdir()
    database = Database(f"sqlite:///{folder / 'news.sqlite3'}")
    try:
        url = database.engine.url.render_as_string(hide_password=False)
        assert "%" in url
        migrate.upgrade(database.engine)
        assert not migrate.pending(database.engine)
        assert migrate.alembic_config(database.engine).get_main_option("sqlalchemy.url") == url
    finally:
        database.dispose()
