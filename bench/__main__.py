"""Run every benchmark module in ``bench/`` (or those named on the command line)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path

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


def main(argv: list[str]) -> int:
    """Run the named benchmarks (all when none are named); exit 2 on an unknown name."""
    available = discover()
    names = argv or list(available)
    unknown = [name for name in names if name not in available]
    if unknown:
        print(
            f"unknown benchmark: {', '.join(unknown)} (have: {', '.join(available)})",
            file=sys.stderr,
        )
        return 2
    for name in names:
        print(f"== {name}")
        available[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
