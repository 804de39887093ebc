"""An edition's delivery report as editors read it: counts, rates and bar charts.

The counts come from ``newsletter.delivery.report``; this module adds complaint
counts, the rates editors watch, the geometry of the inline SVG charts (no
JavaScript, no images), which the template draws, and the address of each topic
variant's web page (what its readers' "view in browser" link shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import urls
from newsletter.content.edition import Cadence
from newsletter.delivery.models import Delivery, DeliveryState
from newsletter.delivery.report import DeliveryReport, VariantRow, delivery_report
from newsletter.digests.services import edition_url as digest_page
from newsletter.digests.services import get_digest

BAR_HEIGHT = 22
BAR_GAP = 8
LABEL_WIDTH = 170
CHART_WIDTH = 560

# Colours by meaning, readable on light and dark backgrounds.
_TONES = {
    "delivered": "#12b76a",
    "accepted": "#2e90fa",
    "deferred": "#f79009",
    "bounced": "#f04438",
    "dropped": "#f04438",
    "failed": "#d92d20",
    "queued": "#98a2b3",
    "claimed": "#98a2b3",
    "skipped": "#667085",
}


@dataclass(frozen=True)
class Bar:
    """One labelled bar: its value, its length in pixels and its vertical position."""

    label: str
    value: int
    length: float
    y: int
    colour: str


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart's title, bars and size."""

    title: str
    bars: tuple[Bar, ...]
    width: int
    height: int
    label_width: int


def bar_chart(title: str, counts: dict[str, int], *, width: int = CHART_WIDTH) -> Chart:
    """A chart of ``counts`` (in the given order), bars scaled to the largest value."""
    plot = width - LABEL_WIDTH - 60
    largest = max(counts.values(), default=0) or 1
    bars = tuple(
        Bar(
            label=label.replace("_", " "),
            value=value,
            length=round(plot * value / largest, 1),
            y=index * (BAR_HEIGHT + BAR_GAP),
            colour=_TONES.get(label, "#2e90fa"),
        )
        for index, (label, value) in enumerate(counts.items())
    )
    height = max(1, len(bars)) * (BAR_HEIGHT + BAR_GAP)
    return Chart(title, bars, width, height, LABEL_WIDTH)


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` as a percentage, or None when nothing was sent."""
    return round(100 * part / whole, 2) if whole else None


@dataclass(frozen=True)
class ReportView:
    """Everything the report page shows."""

    report: DeliveryReport
    publication_name: str
    subject: str
    complaints: int
    track_opens: bool
    track_clicks: bool
    charts: tuple[Chart, ...]
    # The edition's web page (its weekly roundup's for a roundup), once it is public.
    edition_url: str | None = None

    @property
    def weekly(self) -> bool:
        """Whether the edition is a weekly roundup."""
        return self.report.cadence == Cadence.WEEKLY.value

    @property
    def alert(self) -> bool:
        """Whether the edition is an alert (one briefing, to the readers who opted in)."""
        return self.report.cadence == Cadence.ALERT.value

    def page_of(self, row: VariantRow) -> str | None:
        """The web page a version's readers reach from "view in browser" (None: not public)."""
        if self.edition_url is None:
            return None
        return self.edition_url if row.key is None else urls.variant_page(self.edition_url, row.key)

    @property
    def bounced(self) -> int:
        """Recipients whose message bounced or was dropped."""
        by_state = self.report.by_state
        return by_state.get("bounced", 0) + by_state.get("dropped", 0)

    def rates(self) -> dict[str, float | None]:
        """Bounce, complaint, open and click rates over the recipients sent to."""
        sent = self.report.sent
        return {
            "bounce": rate(self.bounced, sent),
            "complaint": rate(self.complaints, sent),
            "open": rate(self.report.opened, sent) if self.track_opens else None,
            "click": rate(self.report.clicked, sent) if self.track_clicks else None,
        }

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view for the API."""
        return {
            **self.report.as_dict(),
            "bounced": self.bounced,
            "complaints": self.complaints,
            "tracking": {"opens": self.track_opens, "clicks": self.track_clicks},
            "rates": self.rates(),
        }


def report_view(session: Session, digest_id: int) -> ReportView:
    """The report of one edition with its complaints, rates and charts."""
    digest = get_digest(session, digest_id)
    report = delivery_report(session, digest_id)
    complaints = session.scalar(
        select(func.count()).where(
            Delivery.digest_id == digest_id, Delivery.complained_at.is_not(None)
        )
    )
    order = [s.value for s in DeliveryState]
    by_state = {s: report.by_state[s] for s in order if report.by_state.get(s)}
    charts = [bar_chart("Recipients by state", by_state)] if by_state else []
    if report.by_reason:
        charts.append(bar_chart("Left out, by reason", report.by_reason))
    publication = digest.publication
    edition_url = None
    if digest.published_at is not None:
        edition_url = digest_page(digest)  # its date's, roundup's, slot's or alert's page
    return ReportView(
        report=report,
        publication_name=publication.name,
        subject=digest.subject or "",
        complaints=complaints or 0,
        track_opens=publication.track_opens,
        track_clicks=publication.track_clicks,
        charts=tuple(charts),
        edition_url=edition_url,
    )
