"""The one set of rules for outside text: stored, printed to a terminal, written to CSV."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.errors import InvalidInputError
from newsletter.textrules import (
    bad_character,
    check_text,
    csv_cell,
    csv_uncell,
    header_text,
    terminal,
)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


@given(st.text())
def test_no_csv_cell_starts_a_formula_and_each_reads_back(text: str) -> None:
    """Whatever the text, the cell is not a formula, holds no control character, and the
    import reads back the text (minus control characters)."""
    cell = csv_cell(text)
    assert cell.lstrip(" ")[:1] not in FORMULA_START or cell.startswith("'")
    assert bad_character(cell) is None
    if bad_character(text) is None:
        assert csv_uncell(cell) == text


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=1+3@example.com", "'=1+3@example.com"),
        ("+cmd|'/ccalc'!a0@example.com", "'+cmd|'/ccalc'!a0@example.com"),
        ("  =SUM(A1)", "'  =SUM(A1)"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tx", "'\tx"),
        ("Ann", "Ann"),
        ("Eve\x1b]0;x\x07", "Eve]0;x"),
        ("'quoted", "'quoted"),
    ],
)
def test_csv_cells(text: str, cell: str) -> None:
    """OWASP's formula characters get a leading apostrophe; control characters go."""
    assert csv_cell(text) == cell


@given(st.text())
def test_terminal_text_has_no_control_or_format_characters(text: str) -> None:
    """Nothing a terminal acts on survives, newlines and tabs aside (and not on one line)."""
    shown = terminal(text)
    assert all(ch.isprintable() or ch in "\n\t" or ch.isspace() for ch in shown)
    assert not any(ch in shown for ch in "\x1b\x07\x9b\u202e\r")
    one = terminal(text, one_line=True)
    assert "\n" not in one
    assert "\t" not in one


def test_terminal_shows_codes() -> None:
    """Escapes and bidi overrides are shown, not acted on; plain text is untouched."""
    assert terminal("Eve\x1b[31m\x07") == "Eve\\x1b[31m\\x07"
    assert terminal("a\u202eb") == "a\\u202eb"
    assert terminal("line\nnext") == "line\nnext"
    assert terminal("line\nnext", one_line=True) == "line\\x0anext"
    assert terminal("Zoë") == "Zoë"


def test_stored_text_rules_name_the_field_and_character() -> None:
    """Control characters are refused everywhere; line breaks only in one-line fields."""
    assert check_text("two\nlines", field="lede") == "two\nlines"
    with pytest.raises(InvalidInputError, match=r"^from_name: character U\+000A \(a line"):
        check_text("Desk\nBcc: x@example.org", field="from_name", one_line=True)
    with pytest.raises(InvalidInputError, match=r"^name: character U\+001B \(a control"):
        check_text("Evil\x1b[31m", field="name")
    assert header_text("Eve\r\nBcc: x\x1b") == "Eve Bcc: x"
