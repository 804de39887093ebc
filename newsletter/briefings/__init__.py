"""Briefings: the structured input, its import, and the editorial workflow."""
