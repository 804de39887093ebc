"""Delivery: the email-provider protocol, its implementations, batching, ledger, webhooks."""
