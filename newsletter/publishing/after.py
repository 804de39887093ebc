"""Flushing public changes made by a command or a web request, once they are committed.

A decision's changes are recorded in its transaction; these run the flush (static
export, WebSub hub) right after the commit: at once for the command line, after the
response for the web app, so an editor never waits on the hub. Whatever fails stays
pending and the beat tick retries it.
"""

from __future__ import annotations

import logging

from fastapi import BackgroundTasks

from newsletter.publishing import changes
from newsletter.publishing.corrections import PublicChanges
from newsletter.runtime import Runtime

log = logging.getLogger(__name__)


def flush_now(runtime: Runtime, public: PublicChanges) -> list[changes.Outcome]:
    """Export and announce these publications' pending changes now; what happened."""
    if not public:
        return []
    settings = runtime.settings
    return changes.flush(
        runtime.database,
        changes.public_dir_of(settings),
        settings.websub_hub_url or None,
        publications=public.publications,
    )


def _flush_logged(runtime: Runtime, public: PublicChanges) -> None:
    hub_url = runtime.settings.websub_hub_url or None
    public_dir = changes.public_dir_of(runtime.settings)
    for outcome in flush_now(runtime, public):
        for line in outcome.lines(public_dir, hub_url):
            log.info("%s", line)


def flush_after_response(
    background: BackgroundTasks, runtime: Runtime, public: PublicChanges
) -> None:
    """Schedule the flush of these changes after the web response is sent."""
    if public:
        background.add_task(_flush_logged, runtime, public)
