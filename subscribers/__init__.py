"""Subscribers: lists, subscriptions, double opt-in, preferences, tokens, suppression."""
