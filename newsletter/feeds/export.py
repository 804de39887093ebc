"""Write every feed and public archive page of published editions as static files.

Files land at the same relative paths as the URLs the web app serves (``index.html``,
``p/<publication>/index.html``, ``p/<publication>/<date>/index.html``,
``p/<publication>/weekly/<date>/index.html``, the topic variants' pages
``p/<publication>/<date>/for/<key>/index.html`` (and ``.../weekly/<date>/for/<key>/``),
``p/<publication>/briefings/<slug>/index.html``, ``p/<publication>/topics/index.html``,
``p/<publication>/topics/<topic>/index.html``, ``p/<publication>/feeds.opml``,
``p/<publication>/feeds/briefings/rss.xml``, ...) and hold the same bytes, because
the pages come from the same builders as the web app's public routes. The folder
can be put on any static host or object store as it is. Only published editions
are written, like the feeds.

Briefing pages are rendered from the public view each time, so after a takedown a
re-export replaces the briefing's page with the removal notice: no text stays
behind. The short feed addresses (``/p/<publication>/rss`` ...) are redirects the
app answers; a static host needs its own redirect rules for them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from newsletter import urls
from newsletter.content.edition import Cadence
from newsletter.digests.pages import (
    briefing_pages,
    current_editions,
    opml_text,
    topic_pages,
    topics_html,
)
from newsletter.digests.variant_pages import variant_pages
from newsletter.digests.views import (
    archive_html,
    home_html,
    published_alert_pages,
    published_pages,
)
from newsletter.feeds.catalog import Source, all_feeds
from newsletter.feeds.services import load_source
from newsletter.publications.services import get_publication, list_publications

HOME_PATH = "/"


@dataclass
class ExportResult:
    """Which files an export wrote, relative to its folder."""

    root: Path
    files: list[Path] = field(default_factory=list)

    def write(self, url_path: str, data: bytes) -> None:
        """Write ``data`` at the file path a URL path maps to (``/x/`` → ``x/index.html``)."""
        relative = url_path.lstrip("/")
        if not relative or relative.endswith("/"):
            relative += "index.html"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        # A reader (a static server, another flusher) sees the old file or the new
        # one, never half of one: write beside it, then rename over it.
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            partial.write_bytes(data)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.files.append(Path(relative))


def export_source(source: Source, result: ExportResult) -> None:
    """Write one publication's feeds (every kind, every format)."""
    pub = source.publication
    for feed in all_feeds(source):
        for fmt in urls.FEED_FORMATS:
            result.write(urls.feed("", pub.slug, feed.spec.kind, fmt), feed.render(fmt))


def export_pages(session: Session, slug: str, result: ExportResult) -> None:
    """Write one publication's public pages: archive index, editions, briefings, topics, OPML.

    Each topic variant of a published edition has its own page too: a reader who chose
    topics follows "view in browser" to it, and a static archive must answer that link
    as the app does.
    """
    result.write(urls.archive_index("", slug), archive_html(session, slug).encode("utf-8"))
    for day, slot, page in published_pages(session, slug):
        result.write(urls.edition_page("", slug, day, slot=slot), page.encode("utf-8"))
    for day, _, page in published_pages(session, slug, Cadence.WEEKLY):
        result.write(urls.edition_page("", slug, day, weekly=True), page.encode("utf-8"))
    for key, page in published_alert_pages(session, slug):
        result.write(urls.alert_page("", slug, key), page.encode("utf-8"))
    for path, page in variant_pages(session, slug):
        result.write(path, page.encode("utf-8"))
    editions = current_editions(session, get_publication(session, slug))  # loaded once
    for briefing, page in briefing_pages(session, slug, editions):
        result.write(urls.briefing_page("", slug, briefing), page.encode("utf-8"))
    result.write(urls.topics_index("", slug), topics_html(session, slug).encode("utf-8"))
    for topic in topic_pages(session, slug, editions):
        result.write(urls.topic_page("", slug, topic.slug), topic.html.encode("utf-8"))
    result.write(urls.opml("", slug), opml_text(session, slug).encode("utf-8"))


def export_feeds(
    session: Session,
    directory: Path,
    *,
    publication: str | None = None,
    hub_url: str | None = None,
) -> ExportResult:
    """Export one publication (by slug) or every publication into ``directory``.

    A full export also writes the home page; exporting one publication does not,
    since the home page links every publication's archive.
    """
    slugs = [publication] if publication else [p.slug for p in list_publications(session)]
    result = ExportResult(root=directory)
    if publication is None:
        result.write(HOME_PATH, home_html(session).encode("utf-8"))
    for slug in slugs:
        # Load before writing anything, so an unknown slug leaves the folder untouched.
        source = load_source(session, slug, hub_url=hub_url)
        export_source(source, result)
        export_pages(session, slug, result)
    return result
