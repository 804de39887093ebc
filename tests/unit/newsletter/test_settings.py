"""Settings: secrets never show in a repr, and production refuses weak ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.errors import ConfigError
from newsletter.settings import load_settings

STRONG = "s3cret-" + "k" * 40


def test_a_repr_shows_no_key_and_no_password(tmp_path: Path) -> None:
    """Logging or printing the settings leaks neither key nor the password in a URL."""
    settings = load_settings(
        data_dir=tmp_path,
        secret_key=STRONG,
        sendgrid_api_key="SG.very-private",
        database_url="postgresql://news:hunter2@db.example/news",
        broker_url="redis://:hunter3@cache.example/0",
    )
    shown = repr(settings) + str(settings)
    for secret in (STRONG, "SG.very-private", "hunter2", "hunter3"):
        assert secret not in shown
    assert settings.secret_key.get_secret_value() == STRONG
    assert settings.database_url == "postgresql://news:hunter2@db.example/news"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({}, "NEWSLETTER_SECRET_KEY"),  # the development default
        ({"secret_key": "short"}, "NEWSLETTER_SECRET_KEY"),
        ({"secret_key": STRONG, "email_backend": "sendgrid"}, "NEWSLETTER_SENDGRID_API_KEY"),
    ],
)
def test_production_refuses_weak_or_missing_secrets(
    overrides: dict[str, str], named: str, tmp_path: Path
) -> None:
    """In production the development key, a short key or a missing SendGrid key stop the start."""
    with pytest.raises(ConfigError, match=named):
        load_settings(environment="production", data_dir=tmp_path, **overrides)


def test_production_with_strong_secrets_starts(tmp_path: Path) -> None:
    """Production accepts a long random key and, with SendGrid, an API key."""
    settings = load_settings(
        environment="production",
        data_dir=tmp_path,
        secret_key=STRONG,
        email_backend="sendgrid",
        sendgrid_api_key="SG.key",
    )
    assert settings.sendgrid_api_key.get_secret_value() == "SG.key"
