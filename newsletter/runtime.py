"""The composition root: builds settings, database and providers once per process.

The CLI, the web app factory and the Celery app each build one ``Runtime``; domain
modules receive what they need from it as arguments and never read the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from newsletter import migrate
from newsletter.db import Database
from newsletter.settings import Settings, load_settings

if TYPE_CHECKING:
    from newsletter.delivery.interfaces import EmailSender


@dataclass
class Runtime:
    """Everything a process needs, built from one ``Settings``."""

    settings: Settings
    database: Database = field(init=False)
    _migrated: bool = field(default=False, init=False)
    _sender: EmailSender | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.database = Database(self.settings.database_url)

    @classmethod
    def from_env(cls, **overrides: object) -> Runtime:
        """Build a runtime from ``NEWSLETTER_*`` variables (and overrides)."""
        return cls(load_settings(**overrides))

    def ensure_schema(self) -> None:
        """Apply pending migrations once per process."""
        if not self._migrated:
            migrate.upgrade(self.database.engine)
            self._migrated = True

    @property
    def sender(self) -> EmailSender:
        """The email provider the settings choose, built on first use."""
        if self._sender is None:
            from newsletter.delivery.senders import make_sender

            self._sender = make_sender(self.settings)
        return self._sender

    def close(self) -> None:
        """Release database connections."""
        self.database.dispose()
