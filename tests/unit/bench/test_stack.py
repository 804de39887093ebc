"""The benchmark stack's pieces: CPU from /proc, fresh databases, the test server process."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench import _cpu, _stack, dispatch
from tests import scratchdb, services
from tests.conftest import DB_PREFIX

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


@linux_only
def test_tree_cpu_counts_a_busy_child_and_a_reaped_grandchild() -> None:
    """A child that burned CPU, and a grandchild it reaped, both count in the tree's CPU."""
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time\n{BUSY}"
            f"subprocess.run([sys.executable, '-c', {BUSY!r}])\n"
            "print('done', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    ) as parent:
        try:
            assert parent.stdout is not None
            assert parent.stdout.readline().strip() == b"done"
            assert _cpu.tree_cpu([parent.pid]) >= 0.55
            assert _cpu.children_of(parent.pid) == []
        finally:
            parent.kill()
    assert _cpu.process_cpu(parent.pid) is None


@linux_only
def test_children_of_finds_every_descendant() -> None:
    """A child's child is found through the parent ids in /proc, and stop ends them both."""
    script = "import subprocess, time\np = subprocess.Popen(['sleep', '60'])\n"
    script += "print(p.pid, flush=True)\ntime.sleep(60)"
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True
    ) as parent:
        assert parent.stdout is not None
        grandchild = int(parent.stdout.readline())
        try:
            assert grandchild in _cpu.children_of(parent.pid)
        finally:
            assert _stack.Worker("x", parent, Path("/dev/null")).stop(timeout=5) != 0
    assert _cpu.children_of(parent.pid) == []


@pytest.mark.postgres
@linux_only
def test_postgres_cpu_counts_the_backends_of_one_database() -> None:
    """A query burning CPU in a fresh database shows up as that database's backend CPU."""
    with scratchdb.fresh_postgres(services.postgres_url(), DB_PREFIX) as url:
        assert _cpu.database_name(url).startswith(DB_PREFIX)
        meter = _cpu.PostgresCPU(_cpu.admin_url_of(url), _cpu.database_name(url)).start()
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM generate_series(1, 3000000)"))
            used = meter.stop()
        engine.dispose()
    assert meter.visible
    assert used > 0.05


@pytest.mark.postgres
def test_fresh_postgres_drops_its_database() -> None:
    """The database exists during the block and is gone after it, even with a client on it."""
    server = services.postgres_url()
    with scratchdb.fresh_postgres(server, DB_PREFIX) as url:
        name = _cpu.database_name(url)
        client = create_engine(url)
        straggler = client.connect()  # still open at the drop, which disconnects it
        assert straggler.scalar(text("SELECT current_database()")) == name
    straggler.invalidate()
    client.dispose()
    admin = create_engine(_cpu.admin_url_of(url))
    with admin.connect() as conn:
        left = conn.scalar(text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name})
    admin.dispose()
    assert left == 0


def test_server_process_counts_copies_per_address() -> None:
    """The test server in its own process reports each address's accepted copies on stop."""
    payload = {
        "personalizations": [
            {"to": [{"email": "a@example.org"}]},
            {"to": [{"email": "b@example.org"}]},
        ],
        "from": {"email": "bench@example.org"},
        "subject": "Hi",
        "content": [{"type": "text/plain", "value": "Hello"}],
    }
    with _stack.ServerProcess() as server:
        for _ in range(2):
            request = urllib.request.Request(
                f"{server.url}/v3/mail/send",
                data=json.dumps(payload).encode(),
                headers={
                    "Authorization": f"Bearer {server.api_key}",
                    "Content-Type": "application/json",
                },
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 202
        assert server.cpu() > 0
        tally = server.stop()
    assert tally["copies"] == {"a@example.org": 2, "b@example.org": 2}
    assert tally["requests"] == 2


@pytest.mark.postgres
def test_dispatch_benchmark_names_its_databases_with_the_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every PostgreSQL database the dispatch benchmark creates starts with ``db_prefix``."""
    names: list[str] = []

    def fake_measure(label: str, url: str, count: int, *, latency: float = 0.0) -> dict[str, float]:
        names.append(_cpu.database_name(url) if label == "PostgreSQL" else label)
        return {"rate": 1.0, "peak_mb": 1.0, "seconds": 1.0}

    monkeypatch.setattr(dispatch, "measure", fake_measure)
    monkeypatch.setattr(dispatch, "naive", lambda count, latency=0.0: 1.0)
    dispatch.run(scale=0.001, database_url=services.postgres_url(), db_prefix=DB_PREFIX)
    assert names[0] == "SQLite"
    assert len(names) == 4
    assert all(name.startswith(DB_PREFIX) for name in names[1:])
