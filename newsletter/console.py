"""Terminal output shared by every CLI command.

Every string printed through ``out`` or ``err`` (a line, a table cell, a progress
label) passes the one terminal rule (``newsletter.textrules.terminal``) before Rich
renders it: control and format characters from stored text (a sign-up's name, a
briefing's topic) are shown as ``\\xNN`` codes, never sent to the terminal, so no
value can set the operator's window title or colours. JSON output is escaped the
same way (``\\uNNNN`` escapes, which JSON reads back as the same characters).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from newsletter.textrules import terminal


class SafeConsole(Console):
    """A Rich console that applies the terminal rule to every string it renders."""

    def render_str(self, text: str, **options: Any) -> Text:
        """Markup and styles as Rich reads them, after the terminal rule on the text.

        The rule only turns characters into ``\\x..`` codes, which contain no ``[``, so
        markup and its escapes read exactly as before.
        """
        return super().render_str(terminal(text), **options)


out = SafeConsole(highlight=False, soft_wrap=True)
err = SafeConsole(stderr=True, highlight=False, soft_wrap=True)


def json_text(data: Any) -> str:
    """``data`` as JSON with every character a terminal could act on escaped."""
    text = json.dumps(data, ensure_ascii=False, default=str, indent=2)
    if text.isprintable():
        return text
    return "".join(ch if ch == "\n" or terminal(ch) == ch else json.dumps(ch)[1:-1] for ch in text)


def print_json(data: Any) -> None:
    """Print machine-readable JSON (for ``--json`` options), unstyled."""
    out.print(json_text(data), markup=False, highlight=False)
