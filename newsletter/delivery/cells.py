"""One planning pass's working state: which cell (instant, variant) each reader is in.

``ledger.plan_dispatch`` drives the pass; the ``Planner`` gives the bulk readers their
cells (one per distinct zone, topics and locale), renders each new variant once, writes
the skipped rows as they pass, and records the zone groups at the end.

A variant is one (topic selection, language): the language a reader gets is
``pick_language`` of their locale among the publication's languages, decided here, in
Python, for both passes (per group for the bulk readers, per reader for the rest).
So an edition is rendered once per selection and language, never per reader; the full
edition in the default language is the digest itself (no variant).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.content.edition import Cadence
from newsletter.delivery import roster
from newsletter.delivery.models import DeliveryState, SendBatch, ZoneGroup
from newsletter.delivery.planning import Selection, Timing, not_before
from newsletter.digests.models import Digest
from newsletter.digests.variants import (
    FULL,
    ensure_variant,
    item_topics,
    matched_topics,
    select_positions,
    variant_key,
)
from newsletter.publications.models import pick_language

INSERT_ROWS = 1000  # skipped rows buffered before one bulk insert


def _cell_order(key: tuple[datetime | None, int | None]) -> tuple[datetime, int]:
    """Earliest instant first, the full edition before its variants."""
    instant, variant = key
    return (instant or datetime.min.replace(tzinfo=UTC), variant or 0)


class Planner:
    """One planning pass's working state: skipped rows to write, variants, zone groups."""

    def __init__(
        self,
        session: Session,
        digest: Digest,
        timing: Timing,
        lead: timedelta | None,
        now: datetime,
    ) -> None:
        self.session = session
        self.digest = digest
        self.timing = timing
        self.lead = lead
        self.now = now
        self.skipped: list[dict[str, Any]] = []
        self.items = item_topics(digest)
        self.mode = digest.publication.topic_mode
        publication = digest.publication
        self.default_language = publication.language
        self.offered = publication.offered_languages()
        self.variants: dict[tuple[frozenset[str], str], int | None] = {
            (frozenset(), self.default_language): None
        }
        # An alert carries one briefing: a reader's alert topics choose whether they get
        # it, never a part of it, so every alert reader gets the full edition.
        self.single = digest.cadence is Cadence.ALERT
        self.groups: dict[datetime, set[str]] = {}

    def bulk_cells(self, audience: roster.Audience) -> list[roster.Cell]:
        """The cells the bulk readers fall into, one per (instant, variant), with their groups.

        A group whose topics match nothing in the edition gets no cell: its readers are
        left to the Python pass, which records them skipped.
        """
        cells: dict[tuple[datetime | None, int | None], roster.Cell] = {}
        for zone, stored, locale, readers in roster.bulk_groups(
            self.session, self.digest.id, audience, self.now
        ):
            topics = roster.stored_topics(stored)
            if topics is None or (
                topics and select_positions(self.items, topics, self.mode) is None
            ):
                continue
            instant = self.timing.deliver_at(zone)
            key = (instant, self.variant(tuple(topics), self.language(locale)))
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = roster.Cell(instant, self.claim_from(instant), key[1])
            cell.pairs.append((zone, stored, locale))
            cell.readers += readers
            self.count(instant, (zone,), readers)
        return [cells[key] for key in sorted(cells, key=_cell_order)]

    def claim_from(self, deliver_at: datetime | None) -> datetime | None:
        """When a batch for ``deliver_at`` may be claimed (None: at once)."""
        return not_before(deliver_at, self.lead, self.now)

    def sendable(
        self, selections: Iterator[Selection], counts: Counter[str]
    ) -> Iterator[Selection]:
        """The selections to send; the skipped ones are counted and written as they pass."""
        for selection in selections:
            if selection.skip is None:
                yield selection
                continue
            counts[selection.skip.value] += 1
            self.skipped.append(
                {
                    "digest_id": self.digest.id,
                    "subscriber_id": selection.subscriber_id,
                    "list_id": selection.list_id,
                    "state": DeliveryState.SKIPPED,
                    "skip_reason": selection.skip,
                    "updated_at": self.now,
                }
            )
            if len(self.skipped) >= INSERT_ROWS:
                self.flush_skipped()

    def flush_skipped(self) -> None:
        """Write the skipped rows gathered so far."""
        if self.skipped:
            roster.insert_deliveries(self.session, self.skipped)
            self.skipped.clear()

    def cells(
        self, selections: Iterator[Selection]
    ) -> Iterator[tuple[tuple[datetime | None, int | None], Selection]]:
        """Each selection with its cell: its zone group's instant and its variant."""
        for selection in selections:
            variant = self.variant(selection.topics, self.language(selection.locale))
            yield (self.timing.deliver_at(selection.zone), variant), selection

    def language(self, locale: str) -> str:
        """The language a reader whose locale is ``locale`` gets from this publication."""
        return pick_language(locale, self.offered)

    def variant(self, topics: tuple[str, ...], language: str) -> int | None:
        """The variant a reader who chose ``topics`` gets in ``language`` (None: the full
        edition in the default language)."""
        # An alert carries one briefing whole: readers' topics select no part of it.
        chosen = frozenset() if self.single else frozenset(t.casefold() for t in topics)
        if (chosen, language) in self.variants:
            return self.variants[chosen, language]
        positions = select_positions(self.items, chosen, self.mode)
        # ``skip_reason`` already left out readers whose topics match nothing.
        assert positions is not None
        variant_id = None
        if variant_key(self.items, positions) is not FULL or language != self.default_language:
            names = matched_topics(chosen, self.digest) if chosen else []
            variant_id = ensure_variant(
                self.session, self.digest, positions, names, language=language, now=self.now
            ).id
        self.variants[chosen, language] = variant_id
        return variant_id

    def count(self, deliver_at: datetime | None, zones: Iterable[str], readers: int) -> None:
        """Note that ``zones`` belong to the zone group of ``deliver_at`` (if it has readers)."""
        if deliver_at is None or not readers:
            return
        self.groups.setdefault(deliver_at, set()).update(zones)

    def write_zone_groups(self) -> None:
        """Record each zone group's zones and readers, counted in the ledger itself.

        Counted, not summed from this pass, so a rerun or a reader who joined between
        the bulk count and the insert is counted exactly once.
        """
        if not self.groups:
            return
        counted = dict(
            self.session.execute(
                select(SendBatch.deliver_at, func.sum(SendBatch.size))
                .where(SendBatch.digest_id == self.digest.id, SendBatch.deliver_at.is_not(None))
                .group_by(SendBatch.deliver_at)
            ).all()
        )
        for deliver_at, zones in sorted(self.groups.items()):
            found = self.session.scalar(
                select(ZoneGroup).where(
                    ZoneGroup.digest_id == self.digest.id, ZoneGroup.deliver_at == deliver_at
                )
            )
            readers = int(counted.get(deliver_at) or 0)
            if found is None:
                self.session.add(
                    ZoneGroup(
                        digest_id=self.digest.id,
                        deliver_at=deliver_at,
                        zones=sorted(zones),
                        readers=readers,
                    )
                )
            else:
                found.zones = sorted(set(found.zones) | zones)
                found.readers = readers
        self.session.flush()
