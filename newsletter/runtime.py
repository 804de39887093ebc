"""The composition root: builds settings, database and providers once per process.

The CLI, the web app factory and the Celery app each build one ``Runtime``; domain
modules receive what they need from it as arguments and never read the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from newsletter import migrate
from newsletter.db import Database
from newsletter.settings import Settings, load_settings


@dataclass
class Runtime:
    """Everything a process needs, built from one ``Settings``."""

    settings: Settings
    database: Database = field(init=False)
    _migrated: bool = field(default=False, init=False)

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

    def close(self) -> None:
        """Release database connections."""
        self.database.dispose()
