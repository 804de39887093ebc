"""The Prometheus counters the code increments where things happen.

Counted at the points that do the work: a provider request's outcome (after its
commit), a webhook post received or refused, events applied, a throttle's refusal.
States and ages (batches, editions, the webhook backlog) are not counted here: the
web app's ``/metrics`` reads them from the database at scrape time
(``newsletter.app.observe``), so they are right whichever process changed them.

Several processes count (web workers, Celery worker processes): with
``PROMETHEUS_MULTIPROC_DIR`` set before this module is first imported, which
``newsletter web`` and the ``newsletter worker|run`` supervisor do (the folder is
``NEWSLETTER_METRICS_DIR``, see ``settings.metrics_environment``), each process writes
its counts there and ``/metrics`` adds them up, as prometheus-client's multiprocess
mode documents.
"""

from __future__ import annotations

from prometheus_client import Counter

SEND_REQUESTS = Counter(
    "newsletter_send_requests",
    "Provider requests (one per batch attempt), by outcome: accepted, scheduled "
    "(held by the provider until its send_at), retried, failed, unknown.",
    ["outcome"],
)
SEND_RECIPIENTS = Counter(
    "newsletter_send_recipients",
    "Recipients of those requests, by outcome (accepted and scheduled count the ones "
    "the provider took; failed the ones it refused or that failed for good).",
    ["outcome"],
)
WEBHOOK_POSTS = Counter(
    "newsletter_webhook_posts",
    "SendGrid Event Webhook posts, by outcome: stored, or unavailable (answered 503, "
    "SendGrid retries).",
    ["outcome"],
)
WEBHOOK_EVENTS = Counter(
    "newsletter_webhook_events", "Webhook events in stored posts (before applying)."
)
EVENTS_APPLIED = Counter(
    "newsletter_events_applied", "Provider events applied to the delivery ledger."
)
THROTTLE_REFUSALS = Counter(
    "newsletter_throttle_refusals",
    "Requests refused with 429 by a throttle: signup (per address or per client) or signin.",
    ["throttle"],
)


def request_outcome(outcome: str, recipients: int) -> None:
    """One provider request ended with ``outcome`` for ``recipients`` people."""
    SEND_REQUESTS.labels(outcome).inc()
    if recipients:
        SEND_RECIPIENTS.labels(outcome).inc(recipients)
