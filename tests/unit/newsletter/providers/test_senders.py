"""make_sender picks the provider named by NEWSLETTER_EMAIL_BACKEND."""

from __future__ import annotations

from pathlib import Path

from newsletter.providers.memory import MemorySender
from newsletter.providers.outbox import OutboxSender
from newsletter.providers.senders import make_sender, memory_sender
from newsletter.providers.sendgrid import SendGridSender
from newsletter.runtime import Runtime
from newsletter.settings import EmailBackend, Settings


def test_outbox_is_the_default(data_dir: Path) -> None:
    """The embedded default writes into the data directory's outbox."""
    sender = make_sender(Settings(data_dir=data_dir))
    assert isinstance(sender, OutboxSender)
    assert sender.directory == data_dir / "outbox"


def test_memory_backend_is_one_per_process(data_dir: Path) -> None:
    """Every memory sender is the same object, so tests see what the app sent."""
    settings = Settings(data_dir=data_dir, email_backend=EmailBackend.MEMORY)
    first, second = make_sender(settings), make_sender(settings)
    assert isinstance(first, MemorySender)
    assert first is second is memory_sender()


def test_sendgrid_backend_uses_the_settings(data_dir: Path) -> None:
    """The SendGrid backend gets the key, host and timeout from the settings."""
    settings = Settings(
        data_dir=data_dir,
        email_backend=EmailBackend.SENDGRID,
        sendgrid_api_key="SG.test",
        sendgrid_api_host="http://127.0.0.1:9",
    )
    assert isinstance(make_sender(settings), SendGridSender)


def test_runtime_builds_its_sender_once(data_dir: Path) -> None:
    """Runtime.sender is built lazily and then reused."""
    runtime = Runtime(Settings(data_dir=data_dir))
    try:
        assert runtime.sender is runtime.sender
        assert isinstance(runtime.sender, OutboxSender)
    finally:
        runtime.close()
