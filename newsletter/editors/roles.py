"""Editor roles, without the tables: the command line offers them without SQLAlchemy."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What an account may do; each role may do everything the roles before it may."""

    EDITOR = "editor"
    PUBLISHER = "publisher"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """The role's place in the order editor < publisher < admin."""
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """Whether this role includes ``needed``."""
        return self.rank >= needed.rank
