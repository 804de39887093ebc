"""The project's exception tree.

Every error the project raises on purpose derives from ``NewsletterError``. The classes
below are defined here, except those marked with the module that defines them next to
their one use::

    NewsletterError
    ├── ConfigError              bad settings; raised at start, names the variable
    ├── UserError                bad input from a person or a file; never retried
    │   ├── NotFoundError        an id, slug or date that does not exist
    │   ├── InvalidInputError    a value that fails validation (names field / file / line)
    │   │   ├── ConflictError    well formed, but clashes with what exists or the clock (HTTP 409)
    │   │   ├── TokenError       subscribers.tokens: a token is malformed, tampered with or expired
    │   │   └── _Refused         briefings.jsonform: duplicate keys, NaN or Infinity in JSON
    │   ├── TransitionError      a state change the state machine refuses
    │   │   └── EmbargoPending   digests.services: an edition holds a briefing under embargo
    │   ├── VerificationError    a signed callback is forged, replayed or unsigned (HTTP 403)
    │   ├── RateLimited          too many sign-ups or sign-ins; ``retry_after`` seconds (HTTP 429)
    │   └── LoginFailed          editors.throttle: wrong name or password, or account disabled
    ├── TemplateError            render.mjml_check: bad MJML or an undefined variable
    ├── Busy                     delivery.views: no webhook slot came free in time (HTTP 503)
    ├── _Lost                    the batch dispatch: its claim ran out before the request
    ├── CommandFailed            cli: a NewsletterError as click shows it (one line, exit code)
    └── ProviderError            an outside service (email provider, hub) failed
        ├── RetryableError       429, 5xx, timeouts, dropped connections: try again later
        │   └── OutcomeUnknownError  the request was sent but no answer came: it may have
        │                            been accepted, so resending blindly may duplicate mail
        └── PermanentError       400/401/403/413, invalid address: record and move on
            └── RecipientsRejected  the provider refused some addresses; the rest may go out

The CLI turns a ``UserError`` into one line on stderr and exit code 2, any other
``NewsletterError`` into one line and exit code 1.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Base class of every error the project raises on purpose."""


class ConfigError(NewsletterError):
    """The configuration is invalid; the message names the variable."""


class UserError(NewsletterError):
    """Bad input from a person, a file or a request."""


class NotFoundError(UserError):
    """A referenced object does not exist."""


class InvalidInputError(UserError):
    """A value failed validation; the message says where and what was expected."""


class ConflictError(InvalidInputError):
    """A well-formed value that clashes with the state: a name taken, a time already past.

    No schema can rule it out, so the API answers 409, not 400 (the CLI and the forms
    treat it as any invalid value).
    """


class TransitionError(UserError):
    """A state machine refused a transition."""


class VerificationError(UserError):
    """A signed request (e.g. the SendGrid Event Webhook) failed verification."""


class RateLimited(UserError):
    """Too many attempts (sign-ups, failed sign-ins) within a window: HTTP 429.

    ``retry_after`` is the number of seconds to wait, sent as the ``Retry-After`` header.
    """

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderError(NewsletterError):
    """An outside service failed."""


class RetryableError(ProviderError):
    """A failure worth retrying later (rate limit, server error, timeout)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutcomeUnknownError(RetryableError):
    """The request went out but the answer was lost; the provider may have accepted it."""


class PermanentError(ProviderError):
    """A failure that will not go away by retrying; ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RecipientsRejected(PermanentError):
    """The provider refused the request because of some addresses; ``rejected`` maps each to why."""

    def __init__(self, message: str, *, rejected: dict[str, str]) -> None:
        super().__init__(message)
        self.rejected = rejected
