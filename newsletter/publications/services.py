"""Publication services: create, edit, look up and load publications from TOML."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.content.edition import PublicationInfo
from newsletter.errors import ConflictError, InvalidInputError, NotFoundError
from newsletter.publications.models import Publication
from newsletter.publications.spec import PublicationSpec, load_toml, validate_spec
from newsletter.publications.topics import assign_topic_slugs

# Columns a spec writes; ``paused`` and the timestamps are not part of the spec.
_SPEC_FIELDS = tuple(PublicationSpec.model_fields)


@dataclass(frozen=True)
class LoadOutcome:
    """What loading one publication from a file did: ``created``, ``updated`` or ``unchanged``."""

    slug: str
    action: str


def get_publication(session: Session, slug: str) -> Publication:
    """The publication with this slug, or ``NotFoundError``."""
    publication = session.scalar(select(Publication).where(Publication.slug == slug))
    if publication is None:
        raise NotFoundError(f"unknown publication {slug!r}")
    return publication


def list_publications(session: Session) -> list[Publication]:
    """Every publication, by slug."""
    return list(session.scalars(select(Publication).order_by(Publication.slug)))


def spec_of(publication: Publication) -> PublicationSpec:
    """The spec a stored publication corresponds to."""
    return PublicationSpec.model_validate(
        {name: getattr(publication, name) for name in _SPEC_FIELDS}
    )


def _values(spec: PublicationSpec) -> dict[str, Any]:
    values = {name: getattr(spec, name) for name in _SPEC_FIELDS}
    values["from_name"] = spec.resolved_from_name()
    values["weekdays"] = list(spec.weekdays)
    values["weekly_days"] = list(spec.weekly_days)
    values["topics"] = list(spec.topics)
    values["languages"] = list(spec.languages)
    return values


def _apply(publication: Publication, spec: PublicationSpec) -> bool:
    changed = False
    for name, value in _values(spec).items():
        if getattr(publication, name) != value:
            setattr(publication, name, value)
            changed = True
    return changed


def create_publication(session: Session, spec: PublicationSpec) -> Publication:
    """Add a new publication; refuses a slug that exists."""
    exists = session.scalar(select(Publication.id).where(Publication.slug == spec.slug))
    if exists is not None:
        raise ConflictError(f"publication {spec.slug!r} already exists (use edit)")
    publication = Publication(**_values(spec))
    session.add(publication)
    session.flush()
    assign_topic_slugs(session, publication, publication.topics)
    return publication


_GROUPS = {"digest_group_id": "alert_group_id", "alert_group_id": "digest_group_id"}


def _check_group_against_stored(
    publication: Publication, changes: dict[str, Any], label: Callable[[str], str]
) -> None:
    """A change giving one kind of mail the group the other kind has stored clashes with
    the state (``ConflictError``: 409 in the API); both given equal is the spec's to refuse."""
    for name, other in _GROUPS.items():
        value = changes.get(name)
        if value is not None and other not in changes and value == getattr(publication, other):
            raise ConflictError(
                f"publication {publication.slug!r}: {label(name)}: group {value} is already "
                f"the {other.removesuffix('_group_id')}'s unsubscribe group; each kind of mail "
                "needs its own group (or none)"
            )


def edit_publication(
    session: Session, slug: str, changes: dict[str, Any], *, label: Callable[[str], str] = str
) -> Publication:
    """Change some fields of a publication; the result is validated as a whole.

    A new default ``language`` without ``languages`` replaces the old default among the
    languages offered (the others stay offered).
    """
    publication = get_publication(session, slug)
    _check_group_against_stored(publication, changes, label)
    data = spec_of(publication).model_dump()
    data.update(changes)
    if "language" in changes and "languages" not in changes:
        # A new default takes the old one's place among the languages offered.
        data["languages"] = [
            changes["language"],
            *publication.offered_languages()[1:],
        ]
    spec = validate_spec(data, where=f"publication {slug!r}", label=label)
    if spec.slug != slug:
        other = session.scalar(select(Publication.id).where(Publication.slug == spec.slug))
        if other is not None:
            raise InvalidInputError(f"publication {slug!r}: slug {spec.slug!r} is taken")
    _apply(publication, spec)
    session.flush()
    assign_topic_slugs(session, publication, publication.topics)
    return publication


def load_publications(session: Session, path: Path) -> list[LoadOutcome]:
    """Create or update (by slug) every publication in a TOML file; nothing changes on error."""
    specs = load_toml(path)  # validates the whole file before any write
    outcomes = []
    for spec in specs:
        publication = session.scalar(select(Publication).where(Publication.slug == spec.slug))
        if publication is None:
            publication = Publication(**_values(spec))
            session.add(publication)
            session.flush()
            outcomes.append(LoadOutcome(spec.slug, "created"))
        else:
            action = "updated" if _apply(publication, spec) else "unchanged"
            outcomes.append(LoadOutcome(spec.slug, action))
        assign_topic_slugs(session, publication, publication.topics)
    session.flush()
    return outcomes


def publication_info(publication: Publication) -> PublicationInfo:
    """The plain value renderers take, built from a stored publication."""
    return PublicationInfo(
        slug=publication.slug,
        name=publication.name,
        base_url=publication.base_url,
        tagline=publication.tagline,
        from_name=publication.from_name,
        from_email=publication.from_email,
        reply_to=publication.reply_to,
        postal_address=publication.postal_address,
        timezone=publication.timezone,
        language=publication.language,
        accent_color=publication.accent_color,
        logo_url=publication.logo_url,
    )


def publication_summary(publication: Publication) -> dict[str, Any]:
    """A JSON-ready view of a publication (for ``--json`` and ``show``)."""
    data = spec_of(publication).model_dump(mode="json")
    data["send_time"] = publication.send_time.strftime("%H:%M")
    data["paused"] = publication.paused
    return data
