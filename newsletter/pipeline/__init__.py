"""The pipeline: the one path an edition takes from assembly to its final state.

``steps`` (assemble, render, publish, plan, finalise), ``batches`` (claim and send one
batch under the cancel, freshness and breaker rules), ``tick`` (what the periodic tick
enqueues), ``cancel``, and ``dispatch`` (the in-process driver of ``digest send``).
The Celery tasks (``tasks.pipeline``), the editors' app and the ``digest`` commands
(``cli``) all call these functions; the mechanisms they use (ledger, claims,
recording, scheduling with the provider, reconciliation) live in ``newsletter.delivery``.
"""
