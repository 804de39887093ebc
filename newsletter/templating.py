"""Where the Jinja2 templates are, and the environments every renderer uses.

Every environment raises on undefined variables (``StrictUndefined``); HTML, MJML and
XML templates are autoescaped, plain-text templates (``.txt``) are not. The filters
of ``newsletter.render.filters`` (``wrap``, ``underline``, ``tint``, ``long_date``) are
registered on every environment.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from newsletter.render.filters import FILTERS

_PACKAGED = Path(__file__).parent / "templates"
_CHECKOUT = Path(__file__).parent.parent / "templates"

# The wheel installs the top-level ``templates/`` folder as ``newsletter/templates``;
# a checkout (or an editable install) reads it in place.
TEMPLATES_DIR = _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT


@cache
def environment(root: Path = TEMPLATES_DIR) -> Environment:
    """The shared Jinja2 environment over ``root`` (cached: templates compile once)."""
    env = Environment(
        loader=FileSystemLoader(root),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html", "mjml", "xml"),
            disabled_extensions=("txt",),
            default_for_string=True,
            default=True,
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env
