"""The composition root: builds settings, database and providers once per process.

The CLI, the web app factory and the Celery app each build one ``Runtime``; domain
modules receive what they need from it as arguments and never read the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from newsletter.db import Database
from newsletter.errors import ConfigError
from newsletter.providers.interfaces import EmailSender, can_schedule
from newsletter.settings import Settings, load_settings


@dataclass
class Runtime:
    """Everything a process needs, built from one ``Settings``."""

    settings: Settings
    database: Database = field(init=False)
    _migrated: bool = field(default=False, init=False)
    _sender: EmailSender | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        data_dir = self.settings.data_dir
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"NEWSLETTER_DATA_DIR: cannot use {str(data_dir)!r} as a folder: "
                f"{exc.strerror or exc}"
            ) from None
        try:
            self.database = Database(self.settings.database_url)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise ConfigError(
                f"NEWSLETTER_DATABASE_URL: not a usable database URL ({exc}); expected e.g. "
                "sqlite:////path/to/file.sqlite3 or postgresql://user@host/dbname"
            ) from None

    @classmethod
    def from_env(cls, **overrides: object) -> Runtime:
        """Build a runtime from ``NEWSLETTER_*`` variables (and overrides)."""
        return cls(load_settings(**overrides))

    def ensure_schema(self) -> None:
        """Apply pending migrations once per process."""
        if not self._migrated:
            from newsletter import migrate  # alembic (~0.4 s of CPU), only when it is needed

            try:
                migrate.upgrade(self.database.engine)
            except DBAPIError as exc:
                if exc.statement is not None:  # a failing statement, not a failing connection
                    raise
                url = self.database.engine.url.render_as_string(hide_password=True)
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
                raise ConfigError(
                    f"NEWSLETTER_DATABASE_URL: cannot connect to {url}: {reason}"
                ) from None
            self._migrated = True

    @property
    def sender(self) -> EmailSender:
        """The email provider the settings choose, built on first use."""
        if self._sender is None:
            from newsletter.providers.senders import make_sender  # the outbox's imports, on use

            self._sender = make_sender(self.settings)
        return self._sender

    @property
    def schedule_lead(self) -> timedelta:
        """How long before its time an edition starts: the lead only if the sender holds mail."""
        return self.settings.schedule_lead if can_schedule(self.sender) else timedelta(0)

    def close(self) -> None:
        """Release database connections."""
        self.database.dispose()
