"""Apply and inspect the Alembic migrations from code (``newsletter db ...``).

Each feature package owns a branch of migrations (``branch_labels`` = the feature
name, ``depends_on`` the revisions whose tables it references), so the target is
always ``heads``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    # Alembic's options go through configparser, which reads "%" as interpolation: a
    # percent-encoded password or ``?options=-c+a%3Db`` in the URL must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, target: str = "heads") -> None:
    """Bring the schema up to date (idempotent)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def downgrade(engine: Engine, target: str = "base") -> None:
    """Roll the schema back to ``target``."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, target)


def current_heads(engine: Engine) -> set[str]:
    """The revisions the database is at."""
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def pending(engine: Engine) -> bool:
    """Whether migrations remain to be applied.

    The database records only the heads it is at; a branch head that another branch
    ``depends_on`` is applied without being recorded, so compare what the recorded
    heads reach (down revisions and dependencies) with every known revision.
    """
    script = ScriptDirectory.from_config(alembic_config(engine))
    applied: set[str] = set()
    todo = list(current_heads(engine))
    while todo:
        revision = todo.pop()
        if revision in applied:
            continue
        applied.add(revision)
        found = script.get_revision(revision)
        if found is not None:
            todo += _as_tuple(found.down_revision) + _as_tuple(found.dependencies)
    return applied != {rev.revision for rev in script.walk_revisions()}
