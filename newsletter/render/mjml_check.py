"""Validate MJML templates, because MRML renders unknown tags and attributes silently.

The check reads the *template* (Jinja2 syntax and all), so an error names the
template file and its line. Jinja2 expressions are replaced by a neutral word and
statements dropped, line breaks kept; ``{% block %}`` statements are remembered so
that a child template's blocks are checked against the element that encloses the
same block in its parent (``{% extends %}``). The result is parsed with the stdlib
HTML tokenizer and compared with ``mjml_schema.ELEMENTS``: known ``mj-*`` element,
allowed parent, known attributes, tags balanced, plain text in ``mj-preview``.
Autoescaping keeps data from adding tags, so checking the template is enough.
"""

from __future__ import annotations

from functools import lru_cache
from html.parser import HTMLParser
from typing import NoReturn

from jinja2 import Environment, TemplateNotFound, TemplateSyntaxError

from newsletter.errors import NewsletterError
from newsletter.render.mjml_schema import ELEMENTS

_BLOCK = "jinja-block"
_PLAIN_TEXT = frozenset({"mj-preview", "mj-title"})
_DEFAULTS = "mj-attributes"
# A fresh environment only for tokenizing: no whitespace control, so every
# character of the template reaches the skeleton and line numbers stay true.
_LEXER = Environment(autoescape=True)

BlockParents = dict[str, str]


class TemplateError(NewsletterError):
    """A template is wrong (bad MJML, undefined variable); names template and line."""


def check_mjml(source: str, *, template: str, env: Environment | None = None) -> None:
    """Raise ``TemplateError`` naming ``template`` and the line if the MJML is invalid.

    ``env`` resolves ``{% extends %}``; without it, a child template's blocks are
    checked for elements and attributes but not for their parent.
    """
    _analyse(source, template, env)


def check_template(env: Environment, name: str) -> None:
    """Check the named template of ``env`` (cached per template source: cheap to repeat)."""
    assert env.loader is not None
    source = env.loader.get_source(env, name)[0]
    _analyse(source, name, env)


@lru_cache(maxsize=256)
def _analyse(source: str, template: str, env: Environment | None) -> BlockParents:
    skeleton, base = _skeleton(source, template)
    base_blocks: BlockParents | None = None
    if base is not None and env is not None:
        assert env.loader is not None
        try:
            base_source = env.loader.get_source(env, base)[0]
        except TemplateNotFound:
            raise TemplateError(f"{template}: extends {base!r}, which does not exist") from None
        base_blocks = _analyse(base_source, base, env)
    walker = _Walker(template, base_blocks, child=base is not None)
    walker.feed(skeleton)
    walker.close()
    walker.finish()
    return walker.blocks


def _skeleton(source: str, template: str) -> tuple[str, str | None]:
    """The template with Jinja2 removed but line numbers kept, and the template it extends."""
    parts: list[str] = []
    line = 1
    extends: str | None = None
    statement: list[tuple[str, str]] | None = None
    try:
        for lineno, kind, value in _LEXER.lex(source):
            if lineno > line:
                parts.append("\n" * (lineno - line))
                line = lineno
            if kind == "data":
                parts.append(value)
                line += value.count("\n")
            elif kind == "variable_begin":
                parts.append("x")
            elif kind == "block_begin":
                statement = []
            elif kind == "block_end" and statement is not None:
                words = [v for k, v in statement if k in ("name", "string")]
                if words[:1] == ["block"] and len(words) > 1:
                    parts.append(f'<{_BLOCK} name="{words[1]}">')
                elif words[:1] == ["endblock"]:
                    parts.append(f"</{_BLOCK}>")
                elif words[:1] == ["extends"] and len(words) > 1:
                    extends = _LEXER.compile_expression(words[1])()
                statement = None
            elif statement is not None:
                statement.append((kind, value))
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{template}, line {exc.lineno}: {exc.message}") from None
    return "".join(parts), extends


class _Walker(HTMLParser):
    """Walks the skeleton's tags, keeping the stack of open MJML elements."""

    def __init__(self, template: str, base_blocks: BlockParents | None, *, child: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.template = template
        self.base_blocks = base_blocks
        self.child = child
        self.stack: list[tuple[str, int]] = []  # open elements and the line that opened them
        self.nested = 0  # same-name tags nested inside the raw element on top
        self.blocks: BlockParents = {}
        self.open_blocks: list[tuple[str, int]] = []  # block name, stack depth at its start

    def fail(self, message: str, line: int | None = None) -> NoReturn:
        """Raise the error for the current (or given) line."""
        at = self.getpos()[0] if line is None else line
        raise TemplateError(f"{self.template}, line {at}: {message}")

    @property
    def parent(self) -> str | None:
        """The innermost open element ("" at the top, None when it is unknown)."""
        return self.stack[-1][0] if self.stack else ("" if not self.child else None)

    def _inside_raw(self) -> bool:
        top = self.parent
        return bool(top) and ((top in ELEMENTS and ELEMENTS[top].raw) or top == _DEFAULTS + "/")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Check an opening tag against the schema."""
        if tag == _BLOCK:
            self._open_block(dict(attrs).get("name") or "")
            return
        if self.child and not self.open_blocks:
            return  # outside every block of a child template: Jinja2 never renders it
        parent = self.parent
        if self._inside_raw():
            assert parent is not None
            if parent in _PLAIN_TEXT:
                self.fail(f"<{parent}> takes plain text only, found <{tag}>")
            if tag == parent:
                self.nested += 1
            return
        if parent == _DEFAULTS:
            self._default_setter(tag, attrs)
            return
        element = ELEMENTS.get(tag)
        if element is None:
            where = f"inside <{parent}>" if parent else "at the top"
            self.fail(f"unknown element <{tag}> {where}")
        if parent is not None and parent not in element.parents:
            allowed = ", ".join(f"<{p}>" for p in sorted(element.parents) if p)
            self.fail(f"<{tag}> cannot be inside <{parent or 'the document'}> (only {allowed})")
        for name, _value in attrs:
            if name not in element.attributes:
                self.fail(f"<{tag}> has no attribute {name!r}")
        self.stack.append((tag, self.getpos()[0]))

    def _default_setter(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ELEMENTS and tag not in ("mj-all", "mj-class"):
            self.fail(f"unknown element <{tag}> inside <mj-attributes>")
        if tag not in ("mj-all", "mj-class"):
            known = ELEMENTS[tag].attributes
            for name, _value in attrs:
                if name not in known:
                    self.fail(f"<{tag}> has no attribute {name!r}")
        self.stack.append((_DEFAULTS + "/", self.getpos()[0]))

    def handle_endtag(self, tag: str) -> None:
        """Close the innermost element; it must be the one named."""
        if tag == _BLOCK:
            self._close_block()
            return
        if self.child and not self.open_blocks:
            return
        if self._inside_raw() and self.parent != _DEFAULTS + "/":
            if tag != self.parent:
                return
            if self.nested:
                self.nested -= 1
                return
        if not self.stack or len(self.stack) <= self._floor():
            self.fail(f"</{tag}> closes nothing that is open")
        top, line = self.stack[-1]
        if top == _DEFAULTS + "/":
            top = tag  # a default setter closes under its own name
        if top != tag:
            self.fail(f"</{tag}> found where </{top}> (opened on line {line}) was expected")
        self.stack.pop()

    def _floor(self) -> int:
        return self.open_blocks[-1][1] if self.child and self.open_blocks else 0

    def _open_block(self, name: str) -> None:
        if self.child and not self.open_blocks:
            # A top-level block of a child template lands where the parent has it.
            parent = (self.base_blocks or {}).get(name)
            self.stack = [(parent, 0)] if parent else []
        self.blocks[name] = self.parent or ""
        self.open_blocks.append((name, len(self.stack)))

    def _close_block(self) -> None:
        if not self.open_blocks:
            self.fail("{% endblock %} without a block")
        name, depth = self.open_blocks.pop()
        if len(self.stack) > depth:
            tag, line = self.stack[-1]
            self.fail(f"<{tag}> opened on line {line} is not closed before block {name!r} ends")
        if len(self.stack) < depth:
            self.fail(f"block {name!r} closes an element opened outside it")
        self.nested = 0
        if self.child and not self.open_blocks:
            self.stack = []

    def finish(self) -> None:
        """Fail if an element is still open at the end of the template."""
        if self.stack:
            tag, line = self.stack[-1]
            self.fail(f"<{tag}> is never closed", line)
