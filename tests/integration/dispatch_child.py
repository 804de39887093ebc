"""A dispatch process that dies right after the provider accepted its first batch.

Run by ``test_dispatch_sendgrid.py`` as a real subprocess:
``python -m tests.integration.dispatch_child DB_URL API_HOST API_KEY DIGEST_ID``. The
wrapper calls ``os._exit(9)`` after SendGrid answered 202 and before the ledger
records anything, which is the one crash a database transaction cannot undo.
"""

from __future__ import annotations

import os
import sys

from newsletter.db import Database
from newsletter.pipeline.dispatch import dispatch
from newsletter.providers.interfaces import Batch, SendResult
from newsletter.providers.sendgrid import SendGridSender
from tests.unit.newsletter.delivery.dispatch_factories import BASE_URL, tokens


class DieAfterAccept:
    """Sends through SendGrid, then kills the process before the answer is recorded."""

    def __init__(self, inner: SendGridSender) -> None:
        self.inner = inner

    def send_batch(self, batch: Batch) -> SendResult:
        """Send, then exit at once (no cleanup, no commit)."""
        self.inner.send_batch(batch)
        os._exit(9)


def main(argv: list[str]) -> None:
    """Dispatch the digest with the dying sender."""
    url, host, key, digest_id = argv
    sender = DieAfterAccept(SendGridSender(key, host=host, timeout=5))
    dispatch(Database(url), int(digest_id), sender, base_url=BASE_URL, tokens=tokens())


if __name__ == "__main__":
    main(sys.argv[1:])
