"""Render a publication's OPML 2.0 file: every feed it has, for a feed reader to import.

One outline per feed (briefings, editions, then each topic in a "Topics" folder),
each pointing at the feed's RSS document: a reader importing the file subscribes
once to each feed, not three times. The Atom and JSON Feed documents of the same
feed sit beside it (``atom.xml``, ``feed.json``) and are advertised on the pages.

Every text and URL is escaped for XML attributes, and characters XML 1.0 cannot
hold at all (control characters) are dropped, so the file always parses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from newsletter import urls
from newsletter.content.edition import PublicationInfo

MEDIA_TYPE = "text/x-opml; charset=utf-8"
SPEC_URL = "https://opml.org/spec2.opml"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _outline(indent: str, **attributes: str) -> str:
    parts = " ".join(f"{name}={quoteattr(_clean(value))}" for name, value in attributes.items())
    return f"{indent}<outline {parts}/>"


def _feed(indent: str, pub: PublicationInfo, kind: str, text: str, html_url: str) -> str:
    return _outline(
        indent,
        text=text,
        title=text,
        type="rss",
        version="RSS",  # OPML 2.0: "RSS" stands for RSS 0.91, 0.92 and 2.0
        xmlUrl=urls.feed(pub.base_url, pub.slug, kind, "rss"),
        htmlUrl=html_url,
    )


def render_opml(publication: PublicationInfo, topics: Sequence[tuple[str, str]]) -> str:
    """The OPML document listing the publication's feeds; ``topics`` are (name, slug) pairs."""
    pub = publication
    archive = urls.archive_index(pub.base_url, pub.slug)
    title = escape(_clean(f"{pub.name}: feeds"))
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{title}</title>",
        f"    <ownerName>{escape(_clean(pub.name))}</ownerName>",
        f"    <docs>{SPEC_URL}</docs>",
        "  </head>",
        "  <body>",
        _feed("    ", pub, "briefings", f"{pub.name}: briefings", archive),
        _feed("    ", pub, "editions", f"{pub.name}: editions", archive),
    ]
    if topics:
        lines.append(f"    <outline text={quoteattr('Topics')}>")
        for name, slug in topics:
            page = urls.topic_page(pub.base_url, pub.slug, slug)
            lines.append(_feed("      ", pub, f"topics/{slug}", f"{pub.name}: {name}", page))
        lines.append("    </outline>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)
