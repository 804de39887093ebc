"""Terminal output shared by every CLI command."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Print machine-readable JSON (for ``--json`` options), unstyled."""
    out.print_json(json.dumps(data, ensure_ascii=False, default=str), highlight=False)
