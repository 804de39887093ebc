"""Publish approved newsroom briefings as daily email digests and feeds."""

__version__ = "0.1.0"
