"""Imports every feature's models so that ``Base.metadata`` knows all tables.

Alembic's autogenerate, the migration check test and ``create_all`` in a few unit
tests read the metadata from here. Add one import line per feature package.
"""

from newsletter.briefings import models as briefings
from newsletter.db import Base
from newsletter.delivery import inbox as delivery_inbox
from newsletter.delivery import models as delivery
from newsletter.digests import models as digests
from newsletter.editors import models as editors
from newsletter.feeds import models_db as feeds
from newsletter.publications import models as publications
from newsletter.publishing import models as publishing
from newsletter.schedules import models as schedules
from subscribers import import_jobs as subscriber_imports
from subscribers import models as subscribers

__all__ = [
    "Base",
    "briefings",
    "delivery",
    "delivery_inbox",
    "digests",
    "editors",
    "feeds",
    "publications",
    "publishing",
    "schedules",
    "subscriber_imports",
    "subscribers",
]
