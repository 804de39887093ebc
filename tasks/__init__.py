"""The Celery app and its thin tasks (ids in, one service call, a retry policy)."""
