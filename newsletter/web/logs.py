"""Keep personal link tokens out of access logs.

Unsubscribe and preferences tokens never expire (a link in an old email must keep
working), so a token in a log file would let anyone who reads the logs change that
subscriber's preferences. The filter rewrites the path uvicorn logs for each request.
"""

from __future__ import annotations

import logging
import re

# /u/<token>, /unsubscribe/<token>, /preferences/<token>, /confirm/<token>
_TOKEN_PATH = re.compile(r"(/(?:u|unsubscribe|preferences|confirm)/)[^/?#\s\"]+")
REDACTED = "[token]"


def redact(text: str) -> str:
    """``text`` with every link token replaced by ``[token]``."""
    return _TOKEN_PATH.sub(rf"\g<1>{REDACTED}", text)


class RedactTokens(logging.Filter):
    """A logging filter that redacts link tokens from the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


_FILTER = RedactTokens()


def install() -> None:
    """Add the filter to uvicorn's access log (once, however many apps are built)."""
    access = logging.getLogger("uvicorn.access")
    if _FILTER not in access.filters:
        access.addFilter(_FILTER)
