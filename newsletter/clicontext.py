"""What every ``newsletter`` command shares: the process's runtime, built once.

Feature command modules import ``runtime`` from here, not from ``newsletter.cli``,
which imports all of them to register their groups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from newsletter.parsing import MAX_ID

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

# Every id a command takes: 1 ... MAX_ID (what the database's integer holds), else a
# one-line usage error.
ID = click.IntRange(1, MAX_ID)


def runtime(ctx: click.Context, *, schema: bool = True) -> Runtime:
    """The process's runtime, built on first use; applies migrations when asked."""
    root = ctx.find_root()
    if root.obj is None:
        from newsletter.runtime import Runtime  # on use: the heavy imports wait for a command

        root.obj = Runtime.from_env()
        root.call_on_close(root.obj.close)
    rt: Runtime = root.obj
    if schema:
        rt.ensure_schema()
    return rt
