"""Render benchmark: a 10-briefing edition through Jinja2, MJML and the text part.

Target: at most 3 ms per edition (median). Prints one line per figure.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from newsletter.content.briefing import BriefingContent, Question, Subsection, Topic
from newsletter.content.edition import Edition, EditionItem, PublicationInfo
from newsletter.render.email import render_email
from newsletter.render.web import render_edition_page

BRIEFINGS = 10
RUNS = 200


def _briefing(number: int) -> BriefingContent:
    paragraph = (
        "The committee met for a second day and heard evidence from regulators, "
        "who said the rules had worked but that enforcement was slow and uneven."
    )
    return BriefingContent(
        title=f"Briefing {number}: regulators defend the rules",
        slug=f"briefing-{number}",
        lede=(paragraph,),
        behind_the_headline=(
            Subsection(heading="What Changed", paragraphs=(paragraph, paragraph)),
            Subsection(heading="Who Objects", paragraphs=(paragraph,)),
        ),
        what_the_papers_say=(paragraph,),
        how_we_got_here=(paragraph,),
        questions=(Question(question="What happens next?", answer=(paragraph,)),),
        topics=(Topic(name="Regulation"), Topic(name="Parliament")),
    )


def edition(briefings: int = BRIEFINGS) -> Edition:
    """A realistic edition of ``briefings`` briefings."""
    at = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)
    publication = PublicationInfo(
        slug="bench",
        name="Bench Daily",
        base_url="https://bench.example.org",
        postal_address="1 Test Road, Testville",
    )
    items = tuple(
        EditionItem(briefing_id=n, revision=1, content=_briefing(n), approved_at=at, position=n)
        for n in range(briefings)
    )
    return Edition(
        id=1, publication=publication, edition_date=date(2026, 3, 4), items=items, assembled_at=at
    )


def _median_ms(work: Callable[[], object], runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def run(scale: float = 1.0) -> dict[str, float]:
    """Median milliseconds to render the email (HTML + text) and the web page of an edition."""
    runs = max(3, round(RUNS * scale))
    sample = edition()
    render_email(sample)  # warm up: templates compile and are checked once
    figures = {
        "email_ms": _median_ms(lambda: render_email(sample), runs),
        "web_page_ms": _median_ms(lambda: render_edition_page(sample), runs),
    }
    size = len(render_email(sample).html.encode())
    print(
        f"render_email, {BRIEFINGS} briefings: {figures['email_ms']:.2f} ms median "
        f"of {runs} runs (target <= 3 ms); HTML {size / 1000:.1f} KB"
    )
    print(f"render_edition_page, {BRIEFINGS} briefings: {figures['web_page_ms']:.2f} ms median")
    figures["html_kb"] = size / 1000
    return figures
