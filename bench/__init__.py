"""Benchmarks: each ``bench/<name>.py`` defines ``run(scale: float = 1.0) -> dict[str, float]``.

``python -m bench`` runs every module here that defines ``run``; ``python -m bench
NAME`` runs one. ``scale`` below 1.0 makes a run smaller (the smoke tests use it).
"""
