"""RSS 2.0 and Atom 1.0 feeds, built with feedgen.

feedgen has defaults that would break deterministic output or validity, so every
builder here works around them on purpose:

- every timestamp (feed and entry) defaults to "now": we always set them, from the
  entries, so the same entries give the same bytes and the ETag holds;
- ``add_entry`` prepends by default: we pass ``order="append"`` to keep newest first;
- the RSS channel ``<link>`` is the *last* feed link added: the home page goes last;
- ``type="CDATA"`` produces invalid Atom: content is plain escaped ``html``;
- ``content:encoded`` is written only when both summary and content are set: we set both;
- RSS ``<description>`` is HTML to every reader, but ``summary()`` copies the plain
  text summary into it as is: we set the description first, HTML-escaped, so a
  briefing whose text says ``<b>`` shows those characters instead of bold text; the
  Atom summary likewise is declared ``html`` and escaped (as plain ``text`` holding
  "<b>" the W3C validator warns of undeclared HTML);
- RSS ``<title>`` (and ``category``, ``dc:creator``) is plain text (RSS 2.0 gives it
  no markup): it goes in as written and is escaped once, ``&`` and ``<`` as the
  hexadecimal references ``&#x26;`` ``&#x3C;`` the RSS Best Practices Profile asks
  for ("Q &#x26; A"); nothing escapes it a second time;
- RSS drops authors without an email address: RSS entries carry ``dc:creator`` instead;
- the RSS channel gets only the ``self`` Atom link: a small extension adds the hub link;
- entry links lose their ``rel``: each entry has exactly one link, the briefing's own
  page (the source article's URL appears only in JSON Feed, as ``external_url``); the
  id is the anchor on the edition page, so the RSS guid is not a permalink.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from newsletter.feeds.models import FeedEntry, FeedSpec

_ATOM_NS = "http://www.w3.org/2005/Atom"
_GENERATOR = "briefing-publisher"
_LINK_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


class _RssHubLink:
    """A feedgen channel extension writing ``<atom:link rel="hub">`` into RSS.

    Registered for RSS only (Atom gets its hub through ``FeedGenerator.link``).
    """

    href = ""

    def extend_ns(self) -> dict[str, str]:
        """No namespace of its own: feedgen always declares ``atom`` in RSS."""
        return {}

    def extend_rss(self, rss: Any) -> Any:
        """Append the hub link to the channel."""
        xml_elem(f"{{{_ATOM_NS}}}link", rss[0], href=self.href, rel="hub")
        return rss


def _generator(spec: FeedSpec, fmt: str, entries: Sequence[FeedEntry]) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.id(spec.url("atom"))
    fg.title(spec.title)
    fg.description(spec.description or spec.title)
    fg.subtitle(spec.description or spec.title)
    fg.language(spec.language)
    fg.author({"name": spec.author, "uri": spec.home_url})
    fg.generator(_GENERATOR)
    fg.updated(spec.updated(entries))
    if spec.icon_url:
        fg.icon(spec.icon_url)
        fg.logo(spec.icon_url)
    fg.link(href=spec.url(fmt), rel="self", type=_LINK_TYPES[fmt])
    if spec.hub_url:
        if fmt == "rss":
            fg.register_extension("websub", _RssHubLink, None, atom=False, rss=True)
            fg.websub.href = spec.hub_url
        else:
            fg.link(href=spec.hub_url, rel="hub")
    # Last on purpose: feedgen uses the last feed link as the RSS channel <link>.
    fg.link(href=spec.home_url, rel="alternate", type="text/html")
    for entry in entries:
        _add_entry(fg, spec, entry)
    return fg


def _add_entry(fg: FeedGenerator, spec: FeedSpec, entry: FeedEntry) -> None:
    fe = fg.add_entry(order="append")
    # guid() also sets the Atom id: a permalink only where the id is the link itself.
    fe.guid(entry.id, permalink=entry.id == entry.url)
    fe.title(entry.title)
    # One link only: feedgen 1.0 writes entry links without their rel attribute, so
    # a second (e.g. the source article) would read as another "alternate".
    fe.link(href=entry.url, rel="alternate")
    summary = entry.summary or entry.title
    # Order matters: description() also sets the Atom content (replaced just below),
    # and summary() keeps a description that differs from the previous summary.
    fe.description(html.escape(summary, quote=False))
    # Declared HTML, escaped: text that looks like markup ("why <b> matters") is shown
    # as written, and validators do not take it for undeclared HTML.
    fe.summary(html.escape(summary, quote=False), type="html")
    fe.content(entry.content_html, type="html")
    fe.published(entry.published)
    fe.updated(entry.updated)
    fe.author({"name": spec.author})
    fe.dc.dc_creator(spec.author)
    for name in entry.categories:
        fe.category(term=name)


# RSS plain-text elements: the RSS Best Practices Profile asks for "&" and "<" in plain
# text as hexadecimal character references, which readers cannot mistake for markup.
_RSS_PLAIN_TEXT = re.compile(rb"(<(title|category|dc:creator)(?: [^>]*)?>)([^<]*)(</\2>)")


def _hex_references(match: re.Match[bytes]) -> bytes:
    text = match.group(3).replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")
    return match.group(1) + text + match.group(4)


def build_rss(spec: FeedSpec, entries: Sequence[FeedEntry]) -> bytes:
    """An RSS 2.0 document (UTF-8 bytes) of ``entries`` in the order given."""
    data: bytes = _generator(spec, "rss", entries).rss_str(pretty=True, encoding="UTF-8")
    return _RSS_PLAIN_TEXT.sub(_hex_references, data)


def build_atom(spec: FeedSpec, entries: Sequence[FeedEntry]) -> bytes:
    """An Atom 1.0 (RFC 4287) document (UTF-8 bytes) of ``entries`` in the order given."""
    data: bytes = _generator(spec, "atom", entries).atom_str(pretty=True, encoding="UTF-8")
    return data
