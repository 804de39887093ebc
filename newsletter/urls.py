"""Every public URL the project prints, in one place.

The web app serves these paths and ``newsletter feeds export`` writes files at the
same paths, so links in emails, feeds and archive pages work in both set-ups.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit

FEED_FORMATS = {"rss": "rss.xml", "atom": "atom.xml", "json": "feed.json"}
# What an unquoted phrase word may not hold (RFC 5322 specials), and what no header may.
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def archive_index(base_url: str, publication: str) -> str:
    """The list of a publication's editions."""
    return f"{base_url}/p/{publication}/"


def edition_page(
    base_url: str, publication: str, edition_date: date, *, weekly: bool = False, slot: str = ""
) -> str:
    """The web archive page of one edition (``weekly``: of that date's weekly roundup;
    ``slot``: of that named slot's edition of the date, e.g. ``.../2026-12-01/evening/``)."""
    if weekly:
        return f"{base_url}/p/{publication}/weekly/{edition_date.isoformat()}/"
    if slot:
        return f"{base_url}/p/{publication}/{edition_date.isoformat()}/{slot}/"
    return f"{base_url}/p/{publication}/{edition_date.isoformat()}/"


def alert_page(base_url: str, publication: str, key: str) -> str:
    """The web page of one alert (``key``: the alert edition's slot, its briefing's id)."""
    return f"{base_url}/p/{publication}/alerts/{key}/"


def variant_page(edition_url: str, key: str) -> str:
    """The page of one topic variant of an edition: what its readers received (``key``)."""
    return f"{edition_url}for/{key}/"


def briefing_in_edition(
    base_url: str,
    publication: str,
    edition_date: date,
    slug: str,
    *,
    weekly: bool = False,
    slot: str = "",
) -> str:
    """One briefing's anchor on its edition's (weekly roundup's, slot edition's) web page."""
    page = edition_page(base_url, publication, edition_date, weekly=weekly, slot=slot)
    return f"{page}#{slug}"


def briefing_page(base_url: str, publication: str, slug: str) -> str:
    """A briefing's own permanent page in a publication (feed entries link here)."""
    return f"{base_url}/p/{publication}/briefings/{slug}/"


def topics_index(base_url: str, publication: str) -> str:
    """The list of a publication's topics and their feeds."""
    return f"{base_url}/p/{publication}/topics/"


def topic_page(base_url: str, publication: str, topic: str) -> str:
    """One topic's page in a publication (``topic`` is its stable slug)."""
    return f"{base_url}/p/{publication}/topics/{topic}/"


def opml(base_url: str, publication: str) -> str:
    """The OPML list of every feed of a publication."""
    return f"{base_url}/p/{publication}/feeds.opml"


def feed(base_url: str, publication: str, kind: str, fmt: str) -> str:
    """A feed URL; ``kind`` is ``briefings``, ``editions`` or ``topics/<topic-slug>``."""
    return f"{base_url}/p/{publication}/feeds/{kind}/{FEED_FORMATS[fmt]}"


def subscribe_page(base_url: str, list_slug: str) -> str:
    """The public sign-up form of a mailing list."""
    return f"{base_url}/subscribe/{list_slug}"


def confirm_page(base_url: str, token: str) -> str:
    """The double opt-in confirmation link."""
    return f"{base_url}/confirm/{token}"


def preferences_page(base_url: str, token: str) -> str:
    """A subscriber's preferences (topics, lists, pause)."""
    return f"{base_url}/preferences/{token}"


def unsubscribe_page(base_url: str, token: str) -> str:
    """The visible unsubscribe link: GET shows a button, POST unsubscribes."""
    return f"{base_url}/unsubscribe/{token}"


def one_click_unsubscribe(base_url: str, token: str) -> str:
    """The RFC 8058 ``List-Unsubscribe`` URL: POST unsubscribes at once, GET only shows a page."""
    return f"{base_url}/u/{token}"


def list_id_header(name: str, slug: str, base_url: str) -> str:
    """The RFC 2919 ``List-Id`` of a list: its name, then ``<slug.host>`` of its site.

    The host is the one its pages are served from, so the id is one the publisher
    controls, and stays the same for every message of the list. A name that is ASCII
    is quoted; one that is not goes unquoted, with the characters a phrase cannot hold
    left out, so the mail library writes its words as RFC 2047 encoded-words.
    """
    host = urlsplit(base_url).hostname or "localhost"
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:  # not a name IDNA can write: keep what is ASCII of it
        host = "".join(char for char in host if char.isascii()).strip(".") or "localhost"
    phrase = " ".join(_CONTROLS.sub(" ", name).split())
    if phrase.isascii():
        phrase = '"' + phrase.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        phrase = " ".join(_SPECIALS.sub(" ", phrase).split())
    return f"{phrase} <{slug}.{host}>"
