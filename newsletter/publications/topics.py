"""Stable topic slugs per publication: the registry behind topic pages and topic feeds.

A topic's slug is its URL (``/p/<publication>/topics/<slug>/`` and its feeds), so it is
given once, the first time a rendered edition names the topic (or the publication is
scoped to it), and never changes. Slugs are unique within a publication: symbols that
tell names apart become words ("C++" → ``c-plus-plus``, "C#" → ``c-sharp``), and a
slug already taken gets the next free number (``-2``, ``-3``, ...). Names without any
ASCII letter or digit ("東京") get a stable hashed slug.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.briefings.derive import slugify
from newsletter.db import utcnow
from newsletter.errors import InvalidInputError
from newsletter.publications.models import Publication, PublicationTopic

TOPIC_SLUG_MAX = 80
_SYMBOL_WORDS = str.maketrans({"+": " plus ", "#": " sharp ", "&": " and ", "@": " at "})


def name_key(name: str) -> str:
    """The key two spellings of one topic share: case-folded, spaces collapsed."""
    return " ".join(name.casefold().split())


def base_slug(name: str) -> str:
    """The slug a topic gets when it is free: ASCII words, symbols spelled out."""
    try:
        return slugify(name.translate(_SYMBOL_WORDS), max_length=TOPIC_SLUG_MAX)
    except InvalidInputError:
        digest = hashlib.sha256(name_key(name).encode()).hexdigest()
        return f"topic-{digest[:12]}"


def topic_slugs(session: Session, publication: Publication) -> dict[str, str]:
    """Every registered topic of the publication: name → slug, by name."""
    rows = session.execute(
        select(PublicationTopic.name, PublicationTopic.slug)
        .where(PublicationTopic.publication_id == publication.id)
        .order_by(PublicationTopic.name)
    )
    return dict(rows.all())


def assign_topic_slugs(
    session: Session, publication: Publication, names: Iterable[str]
) -> dict[str, str]:
    """The slug of each of ``names`` (as spelled), registering the new ones.

    Spellings of a registered topic map to its slug. Callers hold the publication's
    row lock or run where only one process renders it, as the pipeline does; the
    unique keys refuse a duplicate otherwise.
    """
    wanted = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    if not wanted:
        return {}
    rows = session.scalars(
        select(PublicationTopic).where(PublicationTopic.publication_id == publication.id)
    ).all()
    by_key = {row.name_key: row.slug for row in rows}
    taken = set(by_key.values())
    out: dict[str, str] = {}
    for name in wanted:
        key = name_key(name)
        slug = by_key.get(key)
        if slug is None:
            slug = _free_slug(base_slug(name), taken)
            session.add(
                PublicationTopic(
                    publication_id=publication.id,
                    name=name[:120],
                    name_key=key[:120],
                    slug=slug,
                    created_at=utcnow(),
                )
            )
            by_key[key] = slug
            taken.add(slug)
        out[name] = slug
    session.flush()
    return out


def _free_slug(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"
