"""Editors' accounts, roles, sessions and API tokens; the editors' web pages and REST API."""
