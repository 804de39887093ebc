"""Editors' accounts and roles, sessions, API tokens, the audit log and sign-in throttling."""
