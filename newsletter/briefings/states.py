"""Editorial states of a briefing, without the tables: the command line offers them
without SQLAlchemy."""

from __future__ import annotations

from enum import StrEnum


class BriefingState(StrEnum):
    """Editorial state of a briefing's latest revision."""

    DRAFT = "draft"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
