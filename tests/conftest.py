"""Fixtures shared by every test: settings, databases (SQLite always, PostgreSQL in CI)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url

from newsletter import migrate
from newsletter.db import Database
from newsletter.providers.memory import MemorySender
from newsletter.providers.senders import memory_sender
from newsletter.runtime import Runtime
from newsletter.settings import Settings
from tests import scratchdb, services

# Databases the suite creates are named with this prefix, so that runs sharing one
# PostgreSQL server (developers, helpers, CI) never touch each other's databases.
DB_PREFIX = os.environ.get("NEWSLETTER_TEST_DB_PREFIX", "newsletter_test_")

# Property tests check what is chosen, never how fast: speed is the benchmarks' job. On
# a loaded two-core CI machine under coverage, Hypothesis's 200 ms deadline per example
# and its too-slow data-generation check failed tests whose every assertion held.
hypothesis_settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("suite")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data directory."""
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    """Development settings on a fresh SQLite database and outbox."""
    return Settings(data_dir=data_dir)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite database file migrated to the newest schema, for tests to copy.

    Migrating a fresh file through every migration costs about 0.3 s (more under
    coverage); copying a migrated one costs a millisecond, and the runtime's own
    check then finds nothing pending. The migrations themselves are tested from an
    empty database in ``test_migrations.py``.
    """
    folder = tmp_path_factory.mktemp("schema")
    rt = Runtime(Settings(data_dir=folder))
    rt.ensure_schema()
    rt.close()
    path = make_url(rt.settings.database_url).database
    assert path is not None
    return Path(path)


@pytest.fixture
def runtime(settings: Settings, migrated_sqlite: Path) -> Iterator[Runtime]:
    """A runtime with its schema migrated (a copy of the migrated SQLite file)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_sqlite, url.database)
    rt = Runtime(settings)
    rt.ensure_schema()
    yield rt
    rt.close()


@pytest.fixture
def database(runtime: Runtime) -> Database:
    """A migrated SQLite database."""
    return runtime.database


@pytest.fixture
def cli_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for CLI tests: a fresh data directory, nothing else inherited."""
    for name in list(__import__("os").environ):
        if name.startswith("NEWSLETTER_") and not name.startswith("NEWSLETTER_TEST"):
            monkeypatch.delenv(name, raising=False)
    # Set by `newsletter web` in its own process: restored after the test, not leaked.
    for name in ("NEWSLETTER_BASE_URL", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return {"NEWSLETTER_DATA_DIR": str(data_dir)}


@pytest.fixture
def mailbox() -> Iterator[MemorySender]:
    """The process-wide memory sender (``EmailBackend.MEMORY``), emptied before and after."""
    sender = memory_sender()
    _empty(sender)
    yield sender
    _empty(sender)


def _empty(sender: MemorySender) -> None:
    sender.sent.clear()
    sender.batches.clear()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (system package), shared by the tests of one module."""
    with services.chromium() as chromium:
        yield chromium


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of the PostgreSQL server tests may create databases on."""
    return services.postgres_url()


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server_url: str) -> Iterator[str]:
    """The name of a PostgreSQL database migrated to the newest schema, a template to copy.

    ``CREATE DATABASE ... TEMPLATE`` copies it in a fraction of the time migrating an
    empty database takes; nobody stays connected to it, as PostgreSQL requires.
    """
    with scratchdb.fresh_postgres(postgres_server_url, DB_PREFIX) as url:
        template = Database(url)
        migrate.upgrade(template.engine)
        template.dispose()
        name = make_url(url).database
        assert name is not None
        yield name


@pytest.fixture
def pg_url(postgres_server_url: str, migrated_postgres: str) -> Iterator[str]:
    """A new PostgreSQL database migrated to the newest schema (a copy of the migrated
    template: a deployment under test finds nothing to migrate), dropped after the test."""
    with scratchdb.fresh_postgres(postgres_server_url, DB_PREFIX, migrated_postgres) as url:
        yield url


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[Database]:
    """A migrated, empty PostgreSQL database (a copy of the migrated template)."""
    db = Database(pg_url)
    migrate.upgrade(db.engine)  # nothing pending: a cheap check that the copy is current
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_database(request: pytest.FixtureRequest) -> Database:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("database")  # type: ignore[no-any-return]
    return request.getfixturevalue("pg_database")  # type: ignore[no-any-return]
