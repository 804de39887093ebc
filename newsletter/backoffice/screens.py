"""The editors' pages under ``/editor/``, one router for the app factory to mount.

Every page needs a signed-in editor; every form POST checks the CSRF token first
and the role second (see ``newsletter.editors.auth``), so a refused request changes
nothing. Each screen is a module of its own: sign-in (``signin``), the briefing
queue and one briefing (``briefing_views``), sending one as an alert
(``alert_views``), editions and reports (``edition_views``), schedules and accounts
(``admin_views``), readers (``reader_views``), publications and lists
(``publication_views``), a publication's welcome email (``welcome_views``), CSV
import and export (``list_transfer_views``).
"""

from __future__ import annotations

from fastapi import APIRouter

from newsletter.backoffice import (
    admin_views,
    alert_views,
    briefing_views,
    edition_views,
    list_transfer_views,
    publication_views,
    reader_views,
    signin,
    welcome_views,
)

router = APIRouter(prefix="/editor", include_in_schema=False)
router.include_router(edition_views.router)
router.include_router(admin_views.router)
router.include_router(reader_views.router)
router.include_router(list_transfer_views.router)
router.include_router(welcome_views.router)
router.include_router(publication_views.router)
router.include_router(signin.router)
router.include_router(alert_views.router)
router.include_router(briefing_views.router)
