"""Where the Jinja2 templates are, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).parent / "templates"
_CHECKOUT = Path(__file__).parent.parent / "templates"

# The wheel installs the top-level ``templates/`` folder as ``newsletter/templates``;
# a checkout (or an editable install) reads it in place.
TEMPLATES_DIR = _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT
