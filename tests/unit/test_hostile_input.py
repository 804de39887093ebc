"""Property test (issue 17): random control characters, nested JSON and oversized fields
thrown at the public endpoints and the CLI imports get a clear 4xx or a one-line error,
never a 500 or a traceback, and a refusal changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from newsletter.app.factory import create_app
from newsletter.briefings.models import Briefing
from newsletter.db import Database
from newsletter.settings import Settings
from subscribers.models import Subscriber
from tests.cli import run
from tests.unit.subscribers.factories import seed

HOSTILE = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CONTROL = st.characters(codec="utf-8", categories=("Cc", "Cf", "Zl", "Zp"))
# Ordinary text laced with control and format characters, now and then very long.
NASTY = st.one_of(
    st.text(st.one_of(CONTROL, st.characters(codec="utf-8")), max_size=60),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "\x1b", "=", "é"]), st.integers(1, 5000)),
)
NESTED = st.builds(lambda n: "[" * n + "]" * n, st.integers(1, 5000))
CLEAR = {200, 202, 400, 404, 409, 413, 415, 422, 429}


def _count(database: Database, model: Any) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_public_sign_up_endpoints(data_dir: Path) -> None:
    """The JSON API and the form: clear answers only; a refusal stores nobody."""
    app = create_app(Settings(data_dir=data_dir, base_url="https://news.example.org"))
    database: Database = app.state.runtime.database
    seed(database)

    with TestClient(app, raise_server_exceptions=False) as client:

        @HOSTILE
        @given(email=NASTY, name=NASTY, topic=NASTY, list_slug=NASTY, nested=NESTED)
        def probe(email: str, name: str, topic: str, list_slug: str, nested: str) -> None:
            before = _count(database, Subscriber)
            body = {"email": email, "list": list_slug, "name": name, "topics": [topic]}
            for response in (
                client.post("/api/subscribe", json=body),
                client.post(
                    "/api/subscribe",
                    content=json.dumps({**body, "list": "daily", "email": "a@example.org"})[:-1]
                    + ', "x": '
                    + nested
                    + "}",
                    headers={"Content-Type": "application/json"},
                ),
                client.post("/subscribe/daily", data={"email": email, "name": name}),
            ):
                assert response.status_code in CLEAR, (response.status_code, response.text[:200])
                if response.status_code >= 400:
                    assert _count(database, Subscriber) == before

        probe()


def test_cli_imports(cli_env: dict[str, str], tmp_path: Path) -> None:
    """Briefing and subscriber imports of hostile files: exit 0, 1 or 2 with a few lines
    and no traceback; a refused file imports nothing."""
    assert run(cli_env, "db", "upgrade").exit_code == 0
    database = Database(f"sqlite:///{Path(cli_env['NEWSLETTER_DATA_DIR']) / 'newsletter.sqlite3'}")

    @HOSTILE
    @given(title=NASTY, lede=NASTY, slug=NASTY, nested=NESTED)
    def probe(title: str, lede: str, slug: str, nested: str) -> None:
        text = tmp_path / "b.txt"
        text.write_text(f"Title: {title}\nSlug: {slug}\n\nWhat's happened\n{lede}\n", "utf-8")
        nested_json = tmp_path / "n.json"
        nested_json.write_text('{"title": "x", "lede": ' + nested + "}", "utf-8")
        people = tmp_path / "people.csv"
        people.write_text(f"email,name\n{json.dumps(title)},{json.dumps(lede)}\n", "utf-8")
        for args in (
            ("briefings", "import", str(text)),
            ("briefings", "import", str(nested_json)),
            (
                "subscribers",
                "import",
                str(people),
                "--list",
                "nope",
                "--confirmed",
                "--consent",
                "x",
            ),
        ):
            # Counted before each command: the text file may import (exit 0), and a
            # later command's refusal must leave that count as it found it.
            before = (_count(database, Briefing), _count(database, Subscriber))
            result = run(cli_env, *args)
            assert result.exit_code in (0, 1, 2), (args, result.output[-300:])
            assert "Traceback" not in result.output
            assert "\x1b" not in result.output
            if result.exit_code == 2:
                assert (_count(database, Briefing), _count(database, Subscriber)) == before

    try:
        probe()
    finally:
        database.dispose()
