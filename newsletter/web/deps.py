"""FastAPI dependencies shared by every view: the runtime the app was built with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from newsletter.parsing import MAX_ID
from newsletter.runtime import Runtime

# Every id in a route's path, page or API: 1 ... MAX_ID, else a 422 before the handler
# runs (a bigger number would overflow the database's integer, a 500).
Id = Annotated[int, Path(ge=1, le=MAX_ID, description="A row id (1 to 2147483647)")]


def runtime_of(request: Request) -> Runtime:
    """The runtime the app was built with."""
    runtime: Runtime = request.app.state.runtime
    return runtime
