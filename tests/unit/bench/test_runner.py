"""The benchmark runner: its help, its options, and which options reach which benchmark."""

from __future__ import annotations

from typing import Any

import pytest

from bench import __main__ as runner


def test_help_lists_every_benchmark_and_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` names each benchmark with its summary, and the shared options."""
    with pytest.raises(SystemExit) as exited:
        runner.main(["--help"])
    assert exited.value.code == 0
    printed = capsys.readouterr().out
    for name in ("dispatch", "pipeline", "render", "feeds"):
        assert f"  {name} " in printed
    assert "Pipeline benchmark: one edition to N readers" in printed
    for option in ("--scale", "--database-url", "--broker-url", "--latency", "--db-prefix"):
        assert option in printed


def test_unknown_benchmark_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown name is refused with exit code 2 and a line naming it."""
    assert runner.main(["render", "no-such-bench"]) == 2
    assert "unknown benchmark: no-such-bench" in capsys.readouterr().err


def test_each_benchmark_gets_only_the_options_it_declares(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Options reach a run() that declares them; one declaring only scale gets only scale."""
    seen: dict[str, dict[str, Any]] = {}

    def wide(scale: float = 1.0, *, latency: float = 0.0, db_prefix: str = "") -> dict[str, float]:
        seen["wide"] = {"scale": scale, "latency": latency, "db_prefix": db_prefix}
        return {}

    def narrow(scale: float = 1.0) -> dict[str, float]:
        seen["narrow"] = {"scale": scale}
        return {}

    monkeypatch.setattr(runner, "discover", lambda: {"wide": wide, "narrow": narrow})
    argv = ["wide", "narrow", "--scale", "0.5", "--latency", "0.02", "--db-prefix", "p_"]
    assert runner.main(argv) == 0
    assert seen == {
        "wide": {"scale": 0.5, "latency": 0.02, "db_prefix": "p_"},
        "narrow": {"scale": 0.5},
    }
    assert "== wide" in capsys.readouterr().out


def test_database_url_and_prefix_default_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without options the bench variables win over the test suite's, then built-in defaults."""
    monkeypatch.setenv("NEWSLETTER_TEST_DATABASE_URL", "postgresql://test")
    monkeypatch.setenv("NEWSLETTER_BENCH_DATABASE_URL", "postgresql://bench")
    monkeypatch.delenv("NEWSLETTER_BENCH_DB_PREFIX", raising=False)
    args = runner.parser({}).parse_args([])
    assert args.database_url == "postgresql://bench"
    assert args.db_prefix == "newsletter_bench_"
    monkeypatch.delenv("NEWSLETTER_BENCH_DATABASE_URL")
    monkeypatch.setenv("NEWSLETTER_BENCH_DB_PREFIX", "mine_")
    args = runner.parser({}).parse_args([])
    assert args.database_url == "postgresql://test"
    assert args.db_prefix == "mine_"
