"""Run every benchmark module in ``bench/`` (or those named on the command line).

``python -m bench --help`` lists the benchmarks and the options. Each benchmark's
``run`` receives the options it declares as keyword parameters (``scale`` always;
``database_url``, ``broker_url``, ``latency``, ``db_prefix``, ``profile`` where it
takes them), so a benchmark that needs no database is not bothered with one.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._stack import DEFAULT_PREFIX

Runner = Callable[..., dict[str, float]]


def discover() -> dict[str, Runner]:
    """Every module of this package that defines ``run``, by name."""
    found: dict[str, Runner] = {}
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        run = getattr(module, "run", None)
        if callable(run):
            found[info.name] = run
    return found


def _summary(run: Runner) -> str:
    """The first line of the benchmark module's docstring."""
    doc = inspect.getdoc(sys.modules[run.__module__]) or ""
    return doc.splitlines()[0] if doc else ""


def _env(*names: str) -> str | None:
    """The first of these environment variables that is set (None: the benchmark decides)."""
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def parser(available: dict[str, Runner]) -> argparse.ArgumentParser:
    """The command line: benchmark names and the options passed to their ``run``."""
    listing = "\n".join(f"  {name:<20} {_summary(run)}" for name, run in available.items())
    cli = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the named benchmarks (all of them when none is named).",
        epilog=f"benchmarks:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument("names", nargs="*", metavar="BENCHMARK", help="benchmarks to run")
    cli.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every benchmark's size (default 1.0; the smoke tests use 0.01)",
    )
    cli.add_argument(
        "--database-url",
        default=_env("NEWSLETTER_BENCH_DATABASE_URL", "NEWSLETTER_TEST_DATABASE_URL"),
        help="PostgreSQL server to create benchmark databases on (default: "
        "$NEWSLETTER_BENCH_DATABASE_URL, else $NEWSLETTER_TEST_DATABASE_URL)",
    )
    cli.add_argument(
        "--broker-url",
        default=_env("NEWSLETTER_BENCH_BROKER_URL", "NEWSLETTER_TEST_REDIS_URL"),
        help="Redis database for the Celery broker, emptied by the run (default: "
        "$NEWSLETTER_BENCH_BROKER_URL, else $NEWSLETTER_TEST_REDIS_URL)",
    )
    cli.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds the SendGrid test server waits before answering each request (default 0)",
    )
    cli.add_argument(
        "--db-prefix",
        default=os.environ.get("NEWSLETTER_BENCH_DB_PREFIX") or DEFAULT_PREFIX,
        help="prefix of the PostgreSQL databases a benchmark creates (default: "
        f"$NEWSLETTER_BENCH_DB_PREFIX, else {DEFAULT_PREFIX})",
    )
    cli.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="where a benchmark that supports it writes cProfile statistics (pipeline: "
        "one solo worker runs under cProfile)",
    )
    faults = cli.add_argument_group("fault harness (faults)")
    faults.add_argument(
        "--scenario",
        dest="scenarios",
        action="append",
        metavar="LETTER",
        help="a scenario to run, a to f (repeatable; default all)",
    )
    faults.add_argument("--runs", type=int, help="runs of each scenario (default 1)")
    faults.add_argument("--readers", type=int, help="readers per run (default 10,000 x scale)")
    faults.add_argument("--workers", type=int, help="worker processes (default 1)")
    faults.add_argument("--seed", type=int, help="seed of the random faults and moments")
    faults.add_argument(
        "--immediate",
        action="store_true",
        default=None,
        help="send now (event-based guarantee) instead of scheduled ahead",
    )
    return cli


def _options_for(run: Runner, options: dict[str, Any]) -> dict[str, Any]:
    """The options ``run`` declares, leaving out those not given (its default applies)."""
    accepted = inspect.signature(run).parameters
    return {
        name: value for name, value in options.items() if name in accepted and value is not None
    }


def main(argv: list[str]) -> int:
    """Run the named benchmarks (all when none are named); exit 2 on an unknown name."""
    available = discover()
    args = parser(available).parse_args(argv)
    names = args.names or list(available)
    unknown = [name for name in names if name not in available]
    if unknown:
        print(
            f"unknown benchmark: {', '.join(unknown)} (have: {', '.join(available)})",
            file=sys.stderr,
        )
        return 2
    options = {
        "scale": args.scale,
        "database_url": args.database_url,
        "broker_url": args.broker_url,
        "latency": args.latency,
        "db_prefix": args.db_prefix,
        "profile": args.profile,
        "scenarios": args.scenarios,
        "runs": args.runs,
        "readers": args.readers,
        "workers": args.workers,
        "seed": args.seed,
        "immediate": args.immediate,
    }
    for name in names:
        print(f"== {name}")
        run = available[name]
        run(**_options_for(run, options))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
