"""Render emails: Jinja2 templates → MJML (checked) → HTML, plus the plain-text part.

``render_email`` renders an edition once for every recipient: the footer links are
placeholders (``newsletter.render.placeholders``) that the dispatch step fills in.
When the HTML would pass the size budget (Gmail clips messages past ~102 KB and hides
what follows, the unsubscribe footer included), the last briefings shrink to the start
of their lede (at most ``SUMMARY_LENGTH`` characters) and a link; if even that is too
big, the last briefings are left out of the email, which links to the full edition on
the web. So the HTML fits whatever the briefings, and ``notes`` tell the editor why.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
import mjml

from newsletter import i18n
from newsletter.content.edition import Edition
from newsletter.render.context import (
    base_context,
    checked_language,
    edition_context,
    language_context,
    language_of,
    recipient_links,
)
from newsletter.render.mjml_check import TemplateError, check_template
from newsletter.templating import TEMPLATES_DIR, environment
from newsletter.textrules import printable_text

__all__ = [
    "RenderedEmail",
    "RenderedMessage",
    "TemplateError",
    "base_context",
    "render_email",
    "render_template_email",
]

DIGEST = "digest"
ALERT = "alert"
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class RenderedEmail:
    """An edition's email, rendered once for every recipient."""

    subject: str
    preheader: str
    html: str
    text: str
    shrunk: tuple[str, ...]  # slugs of briefings shown as lede + link to keep under the budget
    notes: tuple[str, ...]  # human sentences, e.g. "3 briefings shortened to fit ..."
    omitted: tuple[str, ...] = ()  # slugs of briefings left out of the email (web only)


@dataclass(frozen=True)
class RenderedMessage:
    """Any other templated email (confirmation, test send...)."""

    subject: str
    html: str
    text: str


def render_email(
    edition: Edition, *, budget_bytes: int = 100_000, language: str | None = None
) -> RenderedEmail:
    """Render an edition's subject, HTML and text, shrinking late briefings to fit the budget.

    Everything around the briefings (labels, dates, footer) is in ``language``, the
    publication's by default. An alert (``Edition.is_alert``) has its own short
    template: the headline as the subject, the lede and a link to its page; nothing
    to shrink.
    """
    language = language_of(edition.publication, language)
    context = edition_context(edition, language=language)
    if edition.is_alert:
        return _alert(context, budget_bytes)
    subject = _subject(DIGEST, context)
    text = _text(DIGEST, context)
    html = _html(DIGEST, {**context, "title": subject})
    items = context["items"]
    count = len(items)
    shrink = omit = 0
    if _size(html) > budget_bytes:
        shrink, omit, html = _fit(edition, subject, count, budget_bytes, language)
    kept = items[: count - omit]
    shrunk = tuple(view.content.slug for view in kept[len(kept) - shrink :]) if shrink else ()
    omitted = tuple(view.content.slug for view in items[count - omit :]) if omit else ()
    return RenderedEmail(
        subject=subject,
        preheader=context["preheader"],
        html=html,
        text=text,
        shrunk=shrunk,
        notes=_notes(shrink, _size(html), budget_bytes, omit=omit),
        omitted=omitted,
    )


def _alert(context: Mapping[str, Any], budget_bytes: int) -> RenderedEmail:
    subject = _subject(ALERT, context)
    html = _html(ALERT, {**context, "title": subject})
    return RenderedEmail(
        subject=subject,
        preheader=context["preheader"],
        html=html,
        text=_text(ALERT, context),
        shrunk=(),
        notes=_notes(0, _size(html), budget_bytes),
    )


def _fewest(low: int, high: int, attempt: Callable[[int], str], budget: int) -> tuple[int, str]:
    """The smallest ``n`` in ``low..high`` whose ``attempt(n)`` fits (else ``high``); its HTML.

    ``attempt`` must never grow with ``n``, so a binary search finds it. Invariant:
    ``best`` is the HTML of ``attempt(high)``.
    """
    best = attempt(high)
    while low < high:
        middle = (low + high) // 2
        candidate = attempt(middle)
        if _size(candidate) <= budget:
            high, best = middle, candidate
        else:
            low = middle + 1
    return high, best


def _fit(
    edition: Edition, subject: str, count: int, budget: int, language: str
) -> tuple[int, int, str]:
    """The fewest briefings to shrink, then to leave out, from the end; and that HTML.

    Returns (shrunk, left out, HTML). Shrinking comes first: a shortened briefing still
    shows its title and first lines. Only when every briefing shrunk is still too big are
    briefings left out (every one kept is then shrunk), the first one never.
    """

    def shrinking(shrink: int) -> str:
        context = edition_context(edition, shrink_last=shrink, language=language)
        return _html(DIGEST, {**context, "title": subject})

    def omitting(omit: int) -> str:
        context = edition_context(
            edition, shrink_last=count - omit, omit_last=omit, language=language
        )
        return _html(DIGEST, {**context, "title": subject})

    shrink, html = _fewest(1, count, shrinking, budget)
    if _size(html) <= budget or count == 1:
        return shrink, 0, html
    omit, html = _fewest(1, count - 1, omitting, budget)
    return count - omit, omit, html


def _notes(shrink: int, size: int, budget: int, *, omit: int = 0) -> tuple[str, ...]:
    notes: list[str] = []
    kb = f"{budget // 1000} KB"
    if shrink:
        noun = "briefing" if shrink == 1 else "briefings"
        notes.append(f"{shrink} {noun} shortened to fit the {kb} budget")
    if omit:
        noun = "briefing" if omit == 1 else "briefings"
        notes.append(
            f"{omit} {noun} left out of the email to fit the {kb} budget (Gmail clips "
            "larger emails, hiding the unsubscribe footer); the email links to the full edition"
        )
    if size > budget:
        notes.append(
            f"the HTML is {size:,} bytes, over the {kb} budget even with every briefing shortened"
        )
    return tuple(notes)


def render_template_email(
    name: str, context: Mapping[str, Any], *, language: str | None = None
) -> RenderedMessage:
    """Render ``templates/email/<name>/{subject.txt, body.mjml, body.txt}`` with ``context``.

    Footer links default to the per-recipient placeholders; see ``email/layout/base.mjml``
    for the variables the base layout reads (``base_context(publication)`` builds most).
    The email is in ``language``; by default the context's (``base_context`` sets the
    publication's), else English. Text the context itself carries (a confirmation's
    reason, a welcome's heading) is written by its builder in the language it was given.
    """
    tag = checked_language(
        language if language is not None else context.get("language", i18n.DEFAULT_LANGUAGE)
    )
    full = {"links": recipient_links(), **context, **language_context(tag)}
    subject = _subject(name, full)
    return RenderedMessage(
        subject=subject,
        html=_html(name, {"title": subject, **full}),
        text=_text(name, full),
    )


def _size(html: str) -> int:
    return len(html.encode("utf-8"))


def _render(path: str, context: Mapping[str, Any]) -> str:
    """Render one template in the context's ``language``; Jinja2 errors become
    ``TemplateError`` with template and line."""
    env = environment(language=context.get("language", i18n.DEFAULT_LANGUAGE))
    try:
        return env.get_template(path).render(context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template {exc.name} does not exist") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{exc.name or path}, line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{_where(exc, path)}: {exc.message or exc}") from None


def _where(exc: BaseException, path: str) -> str:
    """The innermost template frame of a Jinja2 error's traceback, as "name, line N"."""
    root = str(TEMPLATES_DIR)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(root) and not frame.filename.endswith(".py"):
            return f"{frame.filename[len(root) :].lstrip('/')}, line {frame.lineno}"
    return path


def _subject(name: str, context: Mapping[str, Any]) -> str:
    return " ".join(_render(f"email/{name}/subject.txt", context).split())


def _text(name: str, context: Mapping[str, Any]) -> str:
    raw = _render(f"email/{name}/body.txt", context)
    lines = "\n".join(line.rstrip() for line in raw.splitlines())
    return _BLANK_RUNS.sub("\n\n", lines).strip("\n") + "\n"


def _html(name: str, context: Mapping[str, Any]) -> str:
    path = f"email/{name}/body.mjml"
    check_template(environment(), path)
    # A value stored before the text rules (a publication named "Evil\x1b[31m") must not
    # stop the MJML parser: what no email can carry goes (newsletter.textrules).
    return str(mjml.mjml2html(printable_text(_render(path, context))))
