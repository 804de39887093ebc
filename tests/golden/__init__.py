"""Golden files: rendered outputs compared byte for byte with files kept in git.

To regenerate after an intended change, run the tests with
``NEWSLETTER_UPDATE_GOLDEN=1`` (they rewrite the files and pass), then read the
diff (and look at a screenshot of the HTML) before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN_DIR = Path(__file__).parent


def assert_golden(name: str, actual: str) -> None:
    """Compare ``actual`` with ``tests/golden/<name>``, or rewrite it when asked to."""
    path = GOLDEN_DIR / name
    if os.environ.get("NEWSLETTER_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")
    assert path.exists(), f"{path} is missing: run with NEWSLETTER_UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from its golden file (see the module docstring)"
