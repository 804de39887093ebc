"""Finding English left in output rendered in the pseudo-locale (``i18n.PSEUDO``).

In the pseudo-locale every marked string comes back as ``⟦…⟧``. Whatever words remain
outside the marks, once the data the test put in (briefing text, names, addresses,
links) is removed, were never marked for translation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser

_MARKED = re.compile(r"⟦[^⟦⟧]*⟧")
_WORD = re.compile(r"[A-Za-z]{2,}")
_URL = re.compile(r"(?:https?://|mailto:)\S+|\S+@\S+")
_READABLE_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder"}


class _Text(HTMLParser):
    """The text a reader sees or hears: text nodes and readable attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        for name, value in attrs:
            if value and (
                name in _READABLE_ATTRIBUTES or (name == "value" and ("type", "submit") in attrs)
            ):
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"} and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The text of an HTML document a reader would see, one part per line."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "\n".join(parser.parts)


def english_left(text: str, *, data: Iterable[str] = (), html: bool = False) -> list[str]:
    """Words outside the pseudo-locale's marks that are not part of ``data``.

    ``data`` lists what the test itself supplied (titles, ledes, names, the publication's
    name); links and addresses are ignored. An empty list means every word was marked.
    """
    if html:
        text = visible_text(text)
    previous = None
    while previous != text:  # marks nest when a translated string holds another
        previous, text = text, _MARKED.sub(" ", text)
    for value in sorted(data, key=len, reverse=True):
        if value:
            text = text.replace(value, " ")
    text = _URL.sub(" ", text)
    return _WORD.findall(text)
