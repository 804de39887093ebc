"""Write every feed and archive page of published editions as static files.

Files land at the same relative paths as the URLs the web app serves
(``p/<publication>/feeds/briefings/rss.xml``, ``p/<publication>/<date>/index.html``,
...), so the folder can be put on any static host or object store as it is.
Only published editions are written, like the feeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from newsletter import urls
from newsletter.digests.edition import Edition
from newsletter.feeds.catalog import Source, all_feeds
from newsletter.feeds.services import load_source
from newsletter.publications.services import list_publications
from newsletter.render.web import ArchiveEntry, render_archive_index, render_edition_page


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
        target.write_bytes(data)
        self.files.append(Path(relative))


def _archive_entry(edition: Edition) -> ArchiveEntry:
    pub = edition.publication
    return ArchiveEntry(
        edition_date=edition.edition_date,
        title=f"{pub.name}: {edition.edition_date.isoformat()}",
        url=urls.edition_page(pub.base_url, pub.slug, edition.edition_date),
        briefing_count=len(edition.items),
    )


def export_source(source: Source, result: ExportResult) -> None:
    """Write one publication's feeds (every kind, every format) and archive pages."""
    pub = source.publication
    for feed in all_feeds(source):
        for fmt in urls.FEED_FORMATS:
            result.write(urls.feed("", pub.slug, feed.spec.kind, fmt), feed.render(fmt))
    editions = [edition for edition in source.editions if edition.items]
    index = render_archive_index(pub, [_archive_entry(edition) for edition in editions])
    result.write(urls.archive_index("", pub.slug), index.encode("utf-8"))
    for edition in editions:
        page = render_edition_page(edition)
        result.write(urls.edition_page("", pub.slug, edition.edition_date), page.encode("utf-8"))


def export_feeds(
    session: Session,
    directory: Path,
    *,
    publication: str | None = None,
    hub_url: str | None = None,
) -> ExportResult:
    """Export one publication (by slug) or every publication into ``directory``."""
    slugs = [publication] if publication else [p.slug for p in list_publications(session)]
    result = ExportResult(root=directory)
    for slug in slugs:
        # Load before writing anything, so an unknown slug leaves the folder untouched.
        source = load_source(session, slug, hub_url=hub_url)
        export_source(source, result)
    return result
