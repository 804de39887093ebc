"""Delivery: batching, ledger, recording, scheduled sends, reconciliation, the Event Webhook."""
