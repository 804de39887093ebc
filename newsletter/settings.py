"""Typed settings read from ``NEWSLETTER_*`` environment variables.

Only the composition roots (CLI, web app factory, Celery app) build a ``Settings``;
domain modules receive the values they need as arguments.

Production refuses what would make it unsafe or unreliable, in this order: a
placeholder, short or repetitive secret; a public address (``NEWSLETTER_BASE_URL``)
that is not https or names this machine (loopback), since every reader's link starts
with it; a database other than PostgreSQL; the filesystem broker unless the
deployment declares it runs on one machine (``NEWSLETTER_SINGLE_MACHINE``: that
transport only reaches workers on the same disk, and never redelivers); and with the
``sendgrid`` backend a missing API key or a missing Event Webhook key (without events
no send is confirmed and no bounce suppressed). A webhook key that is set must parse,
in any environment. Each refusal is one ``ConfigError`` line naming the variable.

Which address builds which link (docs/deployment.md, "The public addresses"):
``NEWSLETTER_BASE_URL`` is this web app's, for the pages only the app serves
(confirm, unsubscribe, preferences, sign-up, the editors' app, the webhook); a
publication's ``base_url`` is where its archive and feeds are read, for links to
editions, briefings, topics and feeds, wherever they appear.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal
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
MIN_SECRET_SYMBOLS = 10  # distinct characters: "a" * 32 is long but not random


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
    web_workers: int = Field(default=1, ge=1, le=64)
    # Addresses (or networks, comma-separated; ``*`` for any) of the proxies in front of
    # the web app: only their X-Forwarded-For / -Proto are believed. The throttles count
    # the address this yields, so behind an untrusted proxy every visitor is one client.
    trusted_proxies: str = "127.0.0.1"
    # Declares that web, workers and beat all run on this one machine: only then may
    # production use the filesystem broker (empty NEWSLETTER_BROKER_URL).
    single_machine: bool = False
    log_format: Literal["text", "json"] = "text"
    # Where each process of this machine writes its Prometheus counters (prometheus
    # client's multiprocess mode); empty: <data dir>/metrics.
    metrics_dir: Path | None = None
    # ``newsletter worker`` serves this machine's counters on this port (0: not at all),
    # for machines that run workers without the web app (whose /metrics adds them up).
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    worker_metrics_host: str = "127.0.0.1"
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

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24, *)"
                ) from None
        return ",".join(entries)

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
        if self.metrics_dir is None or not str(self.metrics_dir).strip():
            self.metrics_dir = self.data_dir / "metrics"
        if self.sendgrid_webhook_public_key.strip():
            check_webhook_public_key(self.sendgrid_webhook_public_key)
        if self.environment is Environment.PRODUCTION:
            self._refuse_unsafe_production()
        return self

    def _refuse_unsafe_production(self) -> None:
        """Raise ``ValueError`` naming the first variable that makes production unsafe."""
        secret = self.secret_key.get_secret_value()
        if secret == DEV_SECRET or len(secret) < 32 or len(set(secret)) < MIN_SECRET_SYMBOLS:
            raise ValueError(
                "NEWSLETTER_SECRET_KEY: must be set to a random value of at least "
                "32 characters in production (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        problem = public_address_problem(self.base_url)
        if problem:
            raise ValueError(f"NEWSLETTER_BASE_URL: {problem} in production")
        if not self.database_url.startswith(("postgresql:", "postgresql+")):
            raise ValueError(
                "NEWSLETTER_DATABASE_URL: production needs PostgreSQL "
                "(postgresql://user@host/dbname), not SQLite"
            )
        filesystem = not self.broker_url or self.broker_url.startswith("filesystem")
        if filesystem and not self.single_machine:
            raise ValueError(
                "NEWSLETTER_BROKER_URL: production needs redis:// or amqp:// (the default "
                "filesystem broker only reaches workers on this machine; if web, workers and "
                "beat all run here, set NEWSLETTER_SINGLE_MACHINE=true)"
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

    @property
    def production(self) -> bool:
        """Whether this is a production deployment."""
        return self.environment is Environment.PRODUCTION

    @property
    def proxy_addresses(self) -> list[str]:
        """The trusted proxies, as uvicorn's ``forwarded_allow_ips`` takes them."""
        return self.trusted_proxies.split(",") if self.trusted_proxies else []

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
    def metrics_path(self) -> Path:
        """The folder of this machine's Prometheus counters (``NEWSLETTER_METRICS_DIR``)."""
        return self.metrics_dir or self.data_dir / "metrics"

    @property
    def outbox_dir(self) -> Path:
        """Folder where the outbox backend writes ``.eml`` files."""
        return self.data_dir / "outbox"


METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_environment(settings: Settings) -> dict[str, str]:
    """The variable that makes prometheus-client count across processes, folder made.

    Set it before ``newsletter.metrics`` is imported (the counters pick their storage
    when created); a value already in the environment is kept.
    """
    folder = os.environ.get(METRICS_ENV) or str(settings.metrics_path)
    Path(folder).mkdir(parents=True, exist_ok=True)
    return {METRICS_ENV: folder}


def public_address_problem(url: str) -> str:
    """Why ``url`` cannot be a production public address ('' when it can).

    Readers open these links from their mail: an http address loses one-click
    unsubscribe (mail clients require https) and a loopback one reaches nobody.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host:
        return f"must be an https:// address, got {url!r}"
    try:
        loopback = ipaddress.ip_address(host).is_loopback or host in ("0.0.0.0", "::")  # noqa: S104
    except ValueError:
        loopback = host == "localhost" or host.endswith(".localhost")
    if loopback:
        return f"must be an address readers can reach, not this machine ({url!r})"
    return ""


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
