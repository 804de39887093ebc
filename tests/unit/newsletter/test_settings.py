"""Settings: secrets never show in a repr; production refuses weak secrets and unsafe sending."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from newsletter.cli import app
from newsletter.errors import ConfigError
from newsletter.settings import load_settings

STRONG = "s3cret-" + "0123456789abcdef" * 3


def _b64_public_key(private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


WEBHOOK_KEY = _b64_public_key(ec.generate_private_key(ec.SECP256R1()))
# Production with SendGrid, configured safely; each refusal test spoils one value.
SAFE_SENDGRID = {
    "environment": "production",
    "secret_key": STRONG,
    "email_backend": "sendgrid",
    "sendgrid_api_key": "SG.key",
    "sendgrid_webhook_public_key": WEBHOOK_KEY,
    "base_url": "https://news.example.org",
    "database_url": "postgresql://news@db.internal/news",
    "broker_url": "redis://cache.internal:6379/0",
}


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
    safe = {key: SAFE_SENDGRID[key] for key in ("base_url", "database_url", "broker_url")}
    with pytest.raises(ConfigError, match=named):
        load_settings(environment="production", data_dir=tmp_path, **safe, **overrides)


def test_production_with_strong_secrets_starts(tmp_path: Path) -> None:
    """Production accepts SendGrid with an API key, a webhook key and an https address."""
    settings = load_settings(data_dir=tmp_path, **SAFE_SENDGRID)
    assert settings.sendgrid_api_key.get_secret_value() == "SG.key"
    assert settings.base_url == "https://news.example.org"


@pytest.mark.parametrize(
    ("spoiled", "line"),
    [
        (
            {"sendgrid_webhook_public_key": ""},
            "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY: required in production",
        ),
        (
            {"sendgrid_webhook_public_key": "  "},
            "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY: required in production",
        ),
    ],
)
def test_production_refuses_unsafe_sendgrid_sending(
    spoiled: dict[str, str], line: str, tmp_path: Path
) -> None:
    """SendGrid in production without the webhook key or an https address stops, naming it."""
    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir=tmp_path, **{**SAFE_SENDGRID, **spoiled})
    assert str(caught.value).startswith(line)
    assert "\n" not in str(caught.value)


# Production with the outbox, configured safely: the checks that hold for every backend.
SAFE_OUTBOX = {**SAFE_SENDGRID, "email_backend": "outbox", "sendgrid_webhook_public_key": ""}


@pytest.mark.parametrize(
    ("spoiled", "line"),
    [
        ({"secret_key": "a" * 40}, "NEWSLETTER_SECRET_KEY: must be set to a random value"),
        ({"secret_key": "abcdefghij" * 3}, "NEWSLETTER_SECRET_KEY: must be set to a random"),
        (
            {"base_url": "http://news.example.org"},
            "NEWSLETTER_BASE_URL: must be an https:// address, got 'http://news.example.org' "
            "in production",
        ),
        ({"base_url": "https://"}, "NEWSLETTER_BASE_URL: must be an https:// address"),
        (
            {"base_url": "https://127.0.0.1:8000"},
            "NEWSLETTER_BASE_URL: must be an address readers can reach, not this machine",
        ),
        ({"base_url": "https://[::1]"}, "NEWSLETTER_BASE_URL: must be an address readers can"),
        ({"base_url": "https://localhost"}, "NEWSLETTER_BASE_URL: must be an address readers"),
        ({"base_url": "https://0.0.0.0"}, "NEWSLETTER_BASE_URL: must be an address readers"),
        ({"database_url": ""}, "NEWSLETTER_DATABASE_URL: production needs PostgreSQL"),
        (
            {"database_url": "sqlite:////srv/news.sqlite3"},
            "NEWSLETTER_DATABASE_URL: production needs PostgreSQL",
        ),
        ({"broker_url": ""}, "NEWSLETTER_BROKER_URL: production needs redis:// or amqp://"),
        ({"broker_url": "filesystem://"}, "NEWSLETTER_BROKER_URL: production needs redis://"),
    ],
)
def test_production_checks_hold_for_every_backend(
    spoiled: dict[str, str], line: str, tmp_path: Path
) -> None:
    """Secret, public address, database and broker: each refused on one line naming it."""
    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir=tmp_path, **{**SAFE_OUTBOX, **spoiled})
    assert str(caught.value).startswith(line)
    assert "\n" not in str(caught.value)


def test_a_declared_single_machine_may_keep_the_filesystem_broker(tmp_path: Path) -> None:
    """NEWSLETTER_SINGLE_MACHINE=true lets production use the default broker."""
    settings = load_settings(
        data_dir=tmp_path, **{**SAFE_OUTBOX, "broker_url": "", "single_machine": "true"}
    )
    assert settings.broker_url == ""
    assert settings.single_machine


def test_development_keeps_its_local_defaults(tmp_path: Path) -> None:
    """Without production nothing above applies: SQLite, filesystem broker, loopback http."""
    settings = load_settings(data_dir=tmp_path)
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.metrics_path == tmp_path / "metrics"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("127.0.0.1", ["127.0.0.1"]),
        (" 10.0.0.5, 10.1.0.0/16 ", ["10.0.0.5", "10.1.0.0/16"]),
        ("*", ["*"]),
        ("", []),
    ],
)
def test_trusted_proxies_parse(value: str, kept: list[str], tmp_path: Path) -> None:
    """Addresses, networks or ``*``, comma-separated: the list uvicorn is given."""
    assert load_settings(data_dir=tmp_path, trusted_proxies=value).proxy_addresses == kept


def test_a_bad_proxy_address_is_named(tmp_path: Path) -> None:
    """An entry that is not an address or a network stops the start, naming the variable."""
    with pytest.raises(ConfigError, match=r"^NEWSLETTER_TRUSTED_PROXIES: 'proxy.internal' is not"):
        load_settings(data_dir=tmp_path, trusted_proxies="10.0.0.5,proxy.internal")


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("bm9wZQ==", "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY: not a base64 DER public key"),
        ("not base64 at all!", "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY: not a base64 DER"),
        (
            _b64_public_key(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
            "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY: not an elliptic-curve (ECDSA) key",
        ),
    ],
)
@pytest.mark.parametrize("environment", ["development", "production"])
def test_a_webhook_key_that_does_not_parse_stops_the_start(
    key: str, line: str, environment: str, tmp_path: Path
) -> None:
    """A webhook key that is set must be SendGrid's base64 DER EC key, in every environment."""
    with pytest.raises(ConfigError) as caught:
        load_settings(
            data_dir=tmp_path,
            **{**SAFE_SENDGRID, "environment": environment, "sendgrid_webhook_public_key": key},
        )
    assert str(caught.value).startswith(line)


def test_a_development_webhook_key_with_surrounding_space_is_accepted(tmp_path: Path) -> None:
    """A pasted key with a trailing newline parses, as SendGrid's own verifier reads it."""
    settings = load_settings(data_dir=tmp_path, sendgrid_webhook_public_key=WEBHOOK_KEY + "\n")
    assert settings.sendgrid_webhook_public_key.strip() == WEBHOOK_KEY


def test_the_cli_shows_an_unsafe_production_as_one_line(cli_env: dict[str, str]) -> None:
    """The command stops with exit 1 and one line naming NEWSLETTER_BASE_URL, no traceback."""
    env = {
        **cli_env,
        **{f"NEWSLETTER_{name.upper()}": value for name, value in SAFE_SENDGRID.items()},
        "NEWSLETTER_BASE_URL": "http://news.example.org",
    }
    result = CliRunner().invoke(app, ["briefings", "list"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: NEWSLETTER_BASE_URL: must be an https:// address, got "
        "'http://news.example.org' in production"
    ]
    assert "Traceback" not in result.output


def test_a_bad_single_value_is_named_after_its_variable(tmp_path: Path) -> None:
    """A value refused on its own is reported as NEWSLETTER_<FIELD>: reason."""
    with pytest.raises(ConfigError, match=r"^NEWSLETTER_BASE_URL: must start with http"):
        load_settings(data_dir=tmp_path, base_url="news.example.org")
