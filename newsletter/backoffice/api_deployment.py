"""The deployment's own values in the OpenAPI document: publications, lists, topics.

Which publications and lists exist, which topics a list's publication offers and which
weekly days it has are data, not code; a request naming others is refused (404, or 422
for a topic or day). So the document served at ``/api/openapi.json`` is completed with
the values of the moment: the publication and list path parameters and body fields
become enums, and the sign-up body a choice of one branch per list, each with that
list's topics and the cadences its publication offers; send-now's ``slot`` names an
existing slot (of any publication: with several, a slot of another one is still a 422).
A document read before an admin adds a list does not know that list; read it again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.content.edition import Cadence
from newsletter.publications.models import Publication
from newsletter.schedules.models import ScheduleSlot
from subscribers.choices import offered_days, offered_topics
from subscribers.models import MailingList

_PUBLICATION_PATH = "/api/publications/{slug}"
_LIST_PATH = "/api/lists/{slug}"
_PUBLICATION_FIELDS = {"MailingListIn": "publication", "AlertIn": "publication"}


def _list_branch(slug: str, publication: Publication, topics: list[str]) -> dict[str, Any]:
    """What a sign-up to list ``slug`` may send: its topics, and a cadence it offers."""
    chosen: dict[str, Any] = {"type": "array", "maxItems": 50}
    chosen["items"] = {"enum": topics} if topics else {"not": {}}
    readings: list[dict[str, Any]] = [
        {
            "properties": {
                "cadence": {"enum": ["", Cadence.DAILY.value]},
                "weekly_day": {"const": ""},
            }
        }
    ]
    days = offered_days(publication)
    if days:
        readings.append(
            {
                "required": ["cadence", "weekly_day"],
                "properties": {
                    "cadence": {"const": Cadence.WEEKLY.value},
                    "weekly_day": {"enum": days},
                },
            }
        )
    return {
        "required": ["list"],
        "properties": {"list": {"const": slug}, "topics": chosen, "alert_topics": chosen},
        "anyOf": readings,
    }


def complete(document: dict[str, Any], session: Session) -> dict[str, Any]:
    """``document`` with the publications, lists and topics that exist now as enums."""
    publications = list(session.scalars(select(Publication).order_by(Publication.slug)))
    if not publications:
        return document
    lists = {row.slug: row.publication for row in session.scalars(select(MailingList))}
    for publication in publications:
        lists.setdefault(publication.slug, publication)  # its default list, made on first use
    slugs = [publication.slug for publication in publications]
    for path, methods in document["paths"].items():
        names = slugs if path.startswith(_PUBLICATION_PATH) else sorted(lists)
        if not path.startswith((_PUBLICATION_PATH, _LIST_PATH)):
            continue
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "slug" and parameter["in"] == "path":
                    parameter["schema"]["enum"] = names
    components = document["components"]["schemas"]
    for model, field in _PUBLICATION_FIELDS.items():
        components[model]["properties"][field]["enum"] = slugs
    topics = {
        publication.slug: offered_topics(session, publication) for publication in publications
    }
    # Slot names of every publication (one list for all: the body does not know the path's).
    slot_names = sorted({row.name for row in session.scalars(select(ScheduleSlot))})
    components["SendNowIn"]["properties"]["slot"]["enum"] = ["", *slot_names]
    components["SubscribeIn"]["oneOf"] = [
        _list_branch(slug, publication, topics[publication.slug])
        for slug, publication in sorted(lists.items())
    ]
    return document
