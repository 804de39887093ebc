"""One set of rules for text that comes from outside: what may be stored, and how it leaves.

Text from a file, a form, the API or a sign-up can carry characters that are harmless
in a database but not where the text goes next. Every way in and every way out uses
the rules here, so there is one answer to "may this be stored" and "how is it shown":

* **Stored text** (briefings, publication settings, names): no control characters
  (C0 except tab and newline, DEL, C1), no lone surrogates and no U+FFFE/U+FFFF, which
  no email, web page or feed can carry (``bad_character``). A field that ends up in
  an email header, or on one line anywhere (a name, ``from_name``, a subject), may
  not hold line breaks or tabs either (``one_line=True``).
* **Terminal output** (``terminal``): control and format characters (escape sequences,
  BEL, bidi overrides, zero-width marks) are shown as ``\\xNN`` / ``\\uNNNN``, so text
  printed to an operator's terminal can never set its title, colours or clipboard.
* **CSV cells** (``csv_cell``): a cell that a spreadsheet would read as a formula
  (first character ``= + - @``, or a tab or line break) gets a leading ``'``, and
  control characters and bidi overrides are dropped; ``csv_uncell`` reads such a
  cell back, so an export imports as it was.
* **Output of old values** (``printable_text``): a value stored before these rules (a
  publication named ``Evil\x1b[31m``) loses the characters on its way into a feed,
  so it cannot break it.
* **Header text** (``header_text``): a display name put in a ``To:`` or ``From:``
  header is one line with no control characters, whatever was stored earlier.
"""

from __future__ import annotations

import re
import unicodedata

from newsletter.errors import InvalidInputError

# Characters no stored text may hold (tab and newline are allowed in multi-line text).
BAD_CHARACTER = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# ... nor in a one-line field (names, header-bound settings): no line breaks or tabs.
BAD_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
# Dropped from CSV cells too: bidi embeddings, overrides and isolates, which can make a
# cell read differently from what it holds (in a spreadsheet or a terminal).
_NOT_IN_CSV = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
_FORMULA_START = frozenset("=+-@\t\r\n")
_SHOWN_AS_CODE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def bad_character(text: str, *, one_line: bool = False) -> str | None:
    """Why ``text`` may not be stored (``"character U+001B is not allowed"``), or ``None``."""
    found = (BAD_IN_LINE if one_line else BAD_CHARACTER).search(text)
    if found is None:
        return None
    point = ord(found.group())
    kind = "a line break" if found.group() in "\r\n\u2028\u2029" else "a control character"
    return f"character U+{point:04X} ({kind}) is not allowed"


def check_text(text: str, *, field: str, one_line: bool = False) -> str:
    """``text`` unchanged, or an ``InvalidInputError`` naming ``field`` and the character."""
    problem = bad_character(text, one_line=one_line)
    if problem is not None:
        raise InvalidInputError(f"{field}: {problem}")
    return text


def printable_text(text: str) -> str:
    """``text`` without the characters stored text may not hold (see ``BAD_CHARACTER``).

    For output built from values stored before a rule held (XML refuses them outright):
    one such value must not break a feed or an export.
    """
    return BAD_CHARACTER.sub("", text)


def header_text(text: str) -> str:
    """``text`` as one line fit for an email header: control characters and breaks removed."""
    return " ".join(BAD_IN_LINE.sub(" ", text).split())


def terminal(text: str, *, one_line: bool = False) -> str:
    """``text`` safe to print: control and format characters shown as ``\\xNN`` / ``\\uNNNN``.

    Newlines and tabs stay unless ``one_line``; nothing else that a terminal would act
    on (ESC, BEL, CSI, bidi overrides) reaches it. Cheap for ordinary text.
    """
    if text.isprintable():
        return text
    return "".join(_shown(char, one_line) for char in text)


def _shown(char: str, one_line: bool) -> str:
    if char in "\n\t" and not one_line:
        return char
    if unicodedata.category(char) not in _SHOWN_AS_CODE:
        return char  # a space that is not " " (NBSP, thin space): printable enough
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def csv_cell(value: str) -> str:
    """A CSV cell that no spreadsheet runs as a formula, with no control characters.

    OWASP's rule: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a line
    break gets a leading apostrophe (shown as text by Excel, LibreOffice and Sheets);
    so does one where spaces come before such a character.
    """
    cleaned = _NOT_IN_CSV.sub("", value)
    stripped = cleaned.lstrip(" ")
    if stripped[:1] in _FORMULA_START and stripped:
        return "'" + cleaned
    return cleaned


def csv_uncell(value: str) -> str:
    """A cell written by ``csv_cell`` as it was: the guarding apostrophe removed."""
    if value.startswith("'") and value[1:].lstrip(" ")[:1] in _FORMULA_START and value[1:]:
        return value[1:]
    return value
