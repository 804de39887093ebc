"""Chooses the email provider from the settings (``NEWSLETTER_EMAIL_BACKEND``)."""

from __future__ import annotations

from newsletter.providers.interfaces import EmailSender
from newsletter.providers.memory import MemorySender
from newsletter.providers.outbox import OutboxSender
from newsletter.settings import EmailBackend, Settings

# One per process, so the web app, tasks and tests in one process see the same mail.
_MEMORY = MemorySender()


def memory_sender() -> MemorySender:
    """The process-wide in-memory sender used by the ``memory`` backend."""
    return _MEMORY


def make_sender(settings: Settings) -> EmailSender:
    """The sender ``settings.email_backend`` names."""
    if settings.email_backend is EmailBackend.MEMORY:
        return _MEMORY
    if settings.email_backend is EmailBackend.SENDGRID:
        from newsletter.providers.sendgrid import SendGridSender

        return SendGridSender(
            settings.sendgrid_api_key.get_secret_value(),
            host=settings.sendgrid_api_host,
            timeout=settings.sendgrid_timeout,
        )
    return OutboxSender(settings.outbox_dir)
