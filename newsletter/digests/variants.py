"""Topic variants: which of an edition's briefings a reader's topics select, rendered once.

A reader who chose topics gets the edition's briefings on those topics (the
publication's ``topic_mode`` ``only``), or those first and then the rest
(``first``). Readers whose choices select the same briefings in the same order
share one variant, keyed by the briefings' positions (``"3.1"``), so an edition
is rendered once per distinct selection, never per reader. A selection that keeps
every briefing in its order is the full edition itself (no variant); one that
matches nothing is no edition at all (the reader is skipped).

Languages: a publication offering several renders each selection once per language
its readers get. A variant in the default language is keyed by its positions alone;
in another language the key ends with the tag (``"3.1-de"``, and ``"1.2.3-de"`` for
the whole edition in German), so the "view in browser" page of the key shows the
reader's language.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import i18n
from newsletter.content.edition import Edition
from newsletter.db import utcnow
from newsletter.digests.corrections_block import corrections_of
from newsletter.digests.models import Digest, DigestVariant
from newsletter.digests.services import build_edition
from newsletter.publications.models import TopicMode
from newsletter.publications.topics import topic_slugs
from newsletter.render.email import render_email

FULL = None  # the variant "key" of the full edition


@dataclass(frozen=True, slots=True)
class ItemTopics:
    """One briefing of an edition as a selection sees it: its position and its topics."""

    position: int
    topics: frozenset[str]  # case-folded names


def item_topics(digest: Digest) -> tuple[ItemTopics, ...]:
    """The edition's briefings in order, each with its case-folded topic names."""
    return tuple(
        ItemTopics(item.position, frozenset(name.casefold() for name in item.content_topic_names()))
        for item in sorted(digest.items, key=lambda item: item.position)
    )


def select_positions(
    items: Sequence[ItemTopics], chosen: Iterable[str], mode: TopicMode
) -> tuple[int, ...] | None:
    """The positions a reader who chose ``chosen`` receives, in order; None if nothing matches.

    No choice at all (an empty ``chosen``) means every topic: the whole edition.
    """
    wanted = frozenset(topic.casefold() for topic in chosen)
    if not wanted:
        return tuple(item.position for item in items)
    matched = tuple(item.position for item in items if item.topics & wanted)
    if not matched:
        return None
    if mode is TopicMode.FIRST:
        return matched + tuple(item.position for item in items if item.position not in matched)
    return matched


def variant_key(items: Sequence[ItemTopics], positions: Sequence[int]) -> str | None:
    """The key of the variant carrying ``positions``; ``FULL`` (None) for the whole edition."""
    if tuple(positions) == tuple(item.position for item in items):
        return FULL
    return ".".join(str(position) for position in positions)


def positions_of(key: str) -> tuple[int, ...]:
    """The positions a variant key names (``"3.1"`` → ``(3, 1)``, ``"3.1-de"`` too);
    ValueError if malformed."""
    return split_key(key)[0]


def split_key(key: str) -> tuple[tuple[int, ...], str]:
    """A variant key's positions and language (``""``: the default); ValueError if malformed."""
    selection, _, language = key.partition(LANGUAGE_MARK)
    parts = selection.split(".")
    if (
        not selection
        or len(parts) > 200
        or not all(part.isdigit() and len(part) < 5 for part in parts)
        or (language and not _canonical(language))
        or key != stored_key(tuple(int(part) for part in parts), language, "")
    ):
        raise ValueError(f"{key[:40]!r} is not a variant key")
    return tuple(int(part) for part in parts), language


LANGUAGE_MARK = "-"  # "3.1-de": a selection's positions, then its language


def _canonical(language: str) -> bool:
    """Whether ``language`` is a valid tag written canonically (one spelling per page)."""
    return (
        len(language) <= 16
        and i18n.is_language(language)
        and (i18n.check_language(language) == language)
    )


def stored_key(positions: Sequence[int], language: str, default: str) -> str:
    """The key a variant of ``positions`` in ``language`` is stored (and linked) under."""
    key = ".".join(str(position) for position in positions)
    return key if language in ("", default) else f"{key}{LANGUAGE_MARK}{language}"


def matched_topics(chosen: Iterable[str], digest: Digest) -> list[str]:
    """The edition's topic names (as the briefings spell them) that ``chosen`` selects."""
    wanted = frozenset(topic.casefold() for topic in chosen)
    names: dict[str, str] = {}
    for item in digest.items:
        for name in item.content_topic_names():
            if name.casefold() in wanted:
                names.setdefault(name.casefold(), name)
    return sorted(names.values(), key=str.casefold)


def variant_edition(
    session: Session, digest: Digest, positions: Sequence[int], language: str = ""
) -> Edition:
    """What a variant's readers receive: the digest's briefings at ``positions``, in order,
    in ``language`` ("": the publication's default)."""
    edition = build_edition(digest)
    default = edition.publication.language
    language = language or default
    if language != default:
        # Renderers write in the edition's language (the publication's, by default).
        edition = replace(edition, publication=replace(edition.publication, language=language))
    slugs = tuple(topic_slugs(session, digest.publication).items())
    edition = replace(edition, topic_slugs=slugs, corrections=corrections_of(session, digest))
    by_position = {item.position: item for item in edition.items}
    chosen = tuple(
        replace(by_position[position], position=number)
        for number, position in enumerate(positions, start=1)
        if position in by_position
    )
    return replace(edition, items=chosen, variant_key=stored_key(positions, language, default))


def ensure_variant(
    session: Session,
    digest: Digest,
    positions: Sequence[int],
    topics: Sequence[str],
    *,
    language: str = "",
    now: datetime | None = None,
) -> DigestVariant:
    """The variant of ``digest`` carrying ``positions`` in ``language`` ("": the default),
    rendered now if it is new.

    Called while planning holds the digest's lock, so two planners cannot render the
    same variant twice; the unique (digest, key) refuses it all the same.
    """
    default = digest.publication.language
    language = language or default
    key = stored_key(positions, language, default)
    found = session.scalar(
        select(DigestVariant).where(DigestVariant.digest_id == digest.id, DigestVariant.key == key)
    )
    if found is not None:
        return found
    email = render_email(variant_edition(session, digest, positions, language), language=language)
    variant = DigestVariant(
        digest_id=digest.id,
        key=key,
        language=language,
        positions=list(positions),
        topics=list(topics),
        subject=email.subject,
        preheader=email.preheader,
        html=email.html,
        text=email.text,
        html_bytes=len(email.html.encode("utf-8")),
        rendered_at=now or utcnow(),
    )
    session.add(variant)
    session.flush()
    return variant
