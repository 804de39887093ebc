"""Typed settings read from ``NEWSLETTER_*`` environment variables.

Only the composition roots (CLI, web app factory, Celery app) build a ``Settings``;
domain modules receive the values they need as arguments.

Production refuses what would make sending unsafe: placeholder secrets, and with the
``sendgrid`` backend a missing API key, a missing Event Webhook key (without events
no send is confirmed and no bounce suppressed) or a public address that is not https
(mail clients only offer one-click unsubscribe over https). A webhook key that is
set must parse, in any environment. Each refusal is one ``ConfigError`` line naming
the variable.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from newsletter.errors import ConfigError
from newsletter.limits import DEFAULT_LIMITS, Limits

DEV_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 - the placeholder we refuse in production
WEBHOOK_KEY = "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY"


class Environment(StrEnum):
    """Where the program runs; production refuses placeholder secrets."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class EmailBackend(StrEnum):
    """Which email provider implementation sends mail."""

    OUTBOX = "outbox"
    SENDGRID = "sendgrid"
    MEMORY = "memory"


class Settings(BaseSettings):
    """All configuration, from environment variables prefixed ``NEWSLETTER_``."""

    model_config = SettingsConfigDict(env_prefix="NEWSLETTER_", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("./var")
    # URLs may carry a password: kept out of repr; the two keys are SecretStr.
    database_url: str = Field(default="", repr=False)
    broker_url: str = Field(default="", repr=False)
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    base_url: str = "http://127.0.0.1:8000"

    email_backend: EmailBackend = EmailBackend.OUTBOX
    sendgrid_api_key: SecretStr = SecretStr("")
    sendgrid_api_host: str = "https://api.sendgrid.com"
    sendgrid_webhook_public_key: str = ""
    sendgrid_timeout: float = 10.0

    web_host: str = "127.0.0.1"
    web_port: int = 8000
    websub_hub_url: str = ""  # a WebSub hub to announce feed updates to; empty: none

    # Scheduling and the Celery pipeline (tasks/): an edition that cannot start within
    # the freshness window after its time is marked missed instead of sent late.
    freshness_window: timedelta = timedelta(hours=3)
    # With a provider that holds mail until a send_at (SendGrid), an edition starts this
    # long before its time and every request is sent ahead, cancellable until ten minutes
    # before the time (newsletter/delivery/scheduling.py); other backends start on time.
    schedule_lead: timedelta = Field(
        default=timedelta(minutes=15), ge=timedelta(0), le=timedelta(hours=24)
    )
    tick_interval: timedelta = timedelta(minutes=1)
    stall_after: timedelta = timedelta(minutes=5)
    task_time_limit: timedelta = timedelta(minutes=10)
    # A worker holds a claimed batch this long; a dead worker's batch is then reconciled
    # after the window (see newsletter/delivery/reconcile.py).
    dispatch_lease: timedelta = timedelta(minutes=5)
    reconcile_window: timedelta = timedelta(minutes=10)
    dispatch_batch_size: int = 1000
    # The provider's circuit breaker (newsletter/delivery/breaker.py): it opens after this
    # many consecutive transient failures across workers, then lets one probe through
    # after the interval, doubling it (up to the maximum) while the probes fail.
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_probe_interval: timedelta = timedelta(seconds=5)
    breaker_max_probe_interval: timedelta = timedelta(minutes=1)

    # Subscribers: double opt-in timing and sign-up abuse control.
    confirm_token_max_age: timedelta = timedelta(hours=48)
    pending_expiry: timedelta = timedelta(days=7)
    confirm_resend_interval: timedelta = timedelta(hours=1)
    # How long after a confirmation a welcome mail the web process did not send (it died
    # after the commit) is still sent by the tick; older ones are let go.
    welcome_window: timedelta = timedelta(hours=24)
    signup_window: timedelta = timedelta(hours=1)
    signup_limit_per_ip: int = 20
    signup_limit_per_address: int = 5

    # Size limits on every way in (docs/limits.md): a file, a folder, a JSON body, an API
    # call or an editor's form is refused with a message naming the limit, nothing changed.
    # JSON bodies (API, sign-up, webhook): bytes, and how deeply arrays/objects may nest.
    max_json_bytes: int = Field(default=DEFAULT_LIMITS.json_bytes, ge=1024)
    max_json_depth: int = Field(default=DEFAULT_LIMITS.json_depth, ge=2, le=500)
    # One briefing: its bytes (the file, or its text once parsed), each paragraph's
    # bytes, and how many topics it may list (each topic makes feeds and pages).
    max_briefing_bytes: int = Field(default=DEFAULT_LIMITS.briefing_bytes, ge=1024)
    max_paragraph_bytes: int = Field(default=DEFAULT_LIMITS.paragraph_bytes, ge=100)
    max_briefing_topics: int = Field(default=DEFAULT_LIMITS.briefing_topics, ge=1)
    # Files one `briefings import` of folders may read.
    max_folder_files: int = Field(default=DEFAULT_LIMITS.folder_files, ge=1)
    # A subscriber CSV import: its data rows and its bytes.
    max_csv_rows: int = Field(default=DEFAULT_LIMITS.csv_rows, ge=1)
    max_csv_bytes: int = Field(default=DEFAULT_LIMITS.csv_bytes, ge=1024)

    @field_validator("base_url", "sendgrid_api_host")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("websub_hub_url")
    @classmethod
    def _hub_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        # urlsplit forgives surrounding spaces; a Link header or a POST would not.
        bad = parts.scheme not in ("http", "https") or not parts.hostname
        if value and (bad or any(char.isspace() for char in value)):
            raise ValueError("must be empty or an http:// or https:// URL with a host")
        return value

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        self.data_dir = self.data_dir.expanduser()
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'newsletter.sqlite3').resolve()}"
        if self.sendgrid_webhook_public_key.strip():
            check_webhook_public_key(self.sendgrid_webhook_public_key)
        if self.environment is Environment.PRODUCTION:
            self._refuse_unsafe_production()
        return self

    def _refuse_unsafe_production(self) -> None:
        """Raise ``ValueError`` naming the first variable that makes production unsafe."""
        secret = self.secret_key.get_secret_value()
        if secret == DEV_SECRET or len(secret) < 32:
            raise ValueError(
                "NEWSLETTER_SECRET_KEY: must be set to a random value of at least "
                "32 characters in production"
            )
        if self.email_backend is not EmailBackend.SENDGRID:
            return
        if not self.sendgrid_api_key.get_secret_value():
            raise ValueError("NEWSLETTER_SENDGRID_API_KEY: required with the sendgrid backend")
        if not self.sendgrid_webhook_public_key.strip():
            raise ValueError(
                f"{WEBHOOK_KEY}: required in production with the sendgrid backend "
                "(without the Event Webhook no send is confirmed and no bounce suppressed)"
            )
        address = urlsplit(self.base_url)
        if address.scheme != "https" or not address.hostname:
            raise ValueError(
                f"NEWSLETTER_BASE_URL: must be an https:// address in production with the "
                f"sendgrid backend (one-click unsubscribe needs https), got {self.base_url!r}"
            )

    @property
    def limits(self) -> Limits:
        """The ``max_*`` settings, as the value the enforcing code receives."""
        return Limits(
            json_bytes=self.max_json_bytes,
            json_depth=self.max_json_depth,
            briefing_bytes=self.max_briefing_bytes,
            paragraph_bytes=self.max_paragraph_bytes,
            briefing_topics=self.max_briefing_topics,
            folder_files=self.max_folder_files,
            csv_rows=self.max_csv_rows,
            csv_bytes=self.max_csv_bytes,
        )

    @property
    def outbox_dir(self) -> Path:
        """Folder where the outbox backend writes ``.eml`` files."""
        return self.data_dir / "outbox"


def check_webhook_public_key(value: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a base64 DER elliptic-curve public key."""
    # Read as SendGrid's own verifier reads it: the base64 text wrapped as a PEM block.
    pem = f"-----BEGIN PUBLIC KEY-----\n{value.strip()}\n-----END PUBLIC KEY-----"
    try:
        key = load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(
            f"{WEBHOOK_KEY}: not a base64 DER public key (copy it from SendGrid's "
            "Mail Settings, Signed Event Webhook)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(f"{WEBHOOK_KEY}: not an elliptic-curve (ECDSA) key")


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and overrides), or raise one clear ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc") or ()
        message = str(first["msg"]).removeprefix("Value error, ")
        if not loc and message.startswith("NEWSLETTER_"):  # a check across fields names its own
            raise ConfigError(message) from None
        name = "NEWSLETTER_" + str(loc[0]).upper() if loc else "configuration"
        raise ConfigError(f"{name}: {message}") from None
