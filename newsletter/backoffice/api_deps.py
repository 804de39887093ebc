"""What the API's endpoints take: the token's role, and the slugs and ids in paths."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from newsletter.editors.auth import Principal, api_user
from newsletter.editors.models import Role
from newsletter.parsing import SLUG_PATTERN

Reader = Annotated[Principal, Depends(api_user(Role.EDITOR))]
Publisher = Annotated[Principal, Depends(api_user(Role.PUBLISHER))]
Admin = Annotated[Principal, Depends(api_user(Role.ADMIN))]
BriefingSlug = Annotated[str, Path(min_length=1, max_length=120, pattern=r"^[a-z0-9-]+$")]
# The slug of a briefing whose text the body replaces (the body takes it): a slug proper.
EditedSlug = Annotated[str, Path(min_length=1, max_length=120, pattern=SLUG_PATTERN)]
PublicationSlug = Annotated[str, Path(min_length=1, max_length=64, pattern=SLUG_PATTERN)]
