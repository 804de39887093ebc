"""A briefing laid out for reading in a terminal (``newsletter briefings show``)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text

from newsletter.content.briefing import BriefingContent


def _heading(title: str) -> Text:
    return Text(title, style="bold underline")


def _paragraphs(paragraphs: tuple[str, ...], indent: int = 2) -> RenderableType:
    return Padding(Group(*(Text(p + "\n") for p in paragraphs)), (0, 0, 0, indent))


def _meta(summary: dict[str, Any], content: BriefingContent) -> Text:
    text = Text()
    rows: list[tuple[str, str]] = [
        ("slug", summary["slug"]),
        ("id", str(summary["id"])),
        ("state", summary["state"]),
        ("revision", str(summary["revision"])),
    ]
    if summary["approved_revision"] is not None:
        rows.append(
            ("live revision", f"{summary['approved_revision']} (by {summary['approved_by']})")
        )
    rows += [
        ("topics", ", ".join(content.topic_names) or "-"),
        ("priority", str(content.priority)),
    ]
    rows += [
        (label, str(value))
        for label, value in (
            ("source", content.source),
            ("url", content.url),
            ("published", content.published.isoformat() if content.published else None),
            ("embargo", content.embargo.isoformat() if content.embargo else None),
            ("expires", content.expires.isoformat() if content.expires else None),
        )
        if value
    ]
    for label, value in rows:
        text.append(f"{label:>14}  ", style="dim")
        text.append(value + "\n")
    return text


def _warnings(content: BriefingContent) -> list[RenderableType]:
    """The import warnings in a panel, or nothing when there are none."""
    if not content.warnings:
        return []
    lines = Text()
    for warning in content.warnings:
        where = f"line {warning.line}: " if warning.line else ""
        lines.append(f"• {where}{warning.message}\n")
    return [Panel(lines, title="Warnings for the editor", border_style="yellow")]


def _topic(name: str, description: str) -> Text:
    line = Text("  ")
    line.append(name, style="bold")
    if description:
        line.append(f": {description}")
    return line


def render_briefing(summary: dict[str, Any], content: BriefingContent) -> RenderableType:
    """Title, metadata, warnings, then every section of the briefing in order."""
    title = Text(content.title, style="bold")
    if content.title_derived:
        title.append("  (title derived from the text)", style="yellow")
    parts: list[RenderableType] = [title, _meta(summary, content), *_warnings(content)]
    parts += [_heading("What's happened"), _paragraphs(content.lede)]
    if content.behind_the_headline:
        parts.append(_heading("What's behind the headline?"))
        for sub in content.behind_the_headline:
            parts += [Padding(Text(sub.heading, style="bold"), (0, 0, 0, 2))]
            parts.append(_paragraphs(sub.paragraphs, 4))
    for label, paragraphs in (
        ("What the papers say", content.what_the_papers_say),
        ("How we got here", content.how_we_got_here),
    ):
        if paragraphs:
            parts += [_heading(label), _paragraphs(paragraphs)]
    if content.questions:
        parts.append(_heading("Go deeper"))
        for q in content.questions:
            parts += [Padding(Text(q.question, style="bold"), (0, 0, 0, 2))]
            parts.append(_paragraphs(q.answer, 4))
    if content.topics:
        parts.append(_heading("More on these topics"))
        parts += [_topic(topic.name, topic.description) for topic in content.topics]
    return Group(*parts)
