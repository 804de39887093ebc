"""Smoke test of the pipeline benchmark: real worker, Redis, PostgreSQL and test server."""

from __future__ import annotations

import pytest

from bench import pipeline
from tests import services
from tests.conftest import DB_PREFIX

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

FIGURES = {
    f"{path}_{figure}"
    for path in ("pipeline", "direct")
    for figure in ("rate", "worker_us", "postgres_us", "server_us", "total_us")
}


def test_pipeline_benchmark_reports_cpu_per_reader_and_delivers_each_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A few hundred readers through a real worker and the direct path: every figure is
    present and positive, and the test server accepted exactly one copy per reader."""
    figures = pipeline.run(
        scale=0.02,
        database_url=services.postgres_url(),
        broker_url=services.redis_url(),
        db_prefix=DB_PREFIX,
    )
    assert set(figures) == FIGURES | {"duplicates", "missing"}
    assert all(figures[name] > 0 for name in FIGURES)
    assert figures["duplicates"] == 0
    assert figures["missing"] == 0
    printed = capsys.readouterr().out
    assert "pipeline: 400 readers" in printed
    assert "direct: 400 readers" in printed
    assert "CPU per reader: workers" in printed


def test_a_reader_with_two_copies_or_none_fails_the_run() -> None:
    """The benchmark refuses figures from a run that duplicated or lost a reader."""
    base = {"seconds": 1.0, "workers": 1.0, "postgres": 1.0, "server": 1.0}
    twice = pipeline.Figures(readers=2, copies={"a@x.org": 1, "b@x.org": 2}, **base)
    lost = pipeline.Figures(readers=2, copies={"a@x.org": 1}, **base)
    with pytest.raises(RuntimeError, match="1 readers duplicated, 0 missing"):
        twice.check("pipeline")
    with pytest.raises(RuntimeError, match="0 readers duplicated, 1 missing"):
        lost.check("pipeline")
    exact = pipeline.Figures(readers=2, copies={"a@x.org": 1, "b@x.org": 1}, **base)
    assert exact.check("pipeline") == (0, 0)


def test_without_services_the_benchmark_says_it_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No PostgreSQL or no Redis broker: nothing runs, and the output says why."""
    assert pipeline.run(scale=0.01, database_url="", broker_url="redis://x") == {}
    assert pipeline.run(scale=0.01, database_url="postgresql://x", broker_url="") == {}
    assert "pipeline: skipped" in capsys.readouterr().out
