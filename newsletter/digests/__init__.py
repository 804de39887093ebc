"""Digests (editions): assembly of approved briefings into a frozen snapshot."""
