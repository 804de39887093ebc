"""The wheel carries everything an installed program needs (templates, samples, migrations,
compiled translations)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_ships_templates_samples_and_migrations(tmp_path: Path) -> None:
    """A built wheel holds the templates, sample data, migrations, every shipped language's
    compiled catalogs and the console script."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("briefing_publisher-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped_templates = {
        f"newsletter/templates/{path.relative_to(ROOT / 'templates').as_posix()}"
        for path in (ROOT / "templates").rglob("*")
        if path.is_file()
    }
    assert shipped_templates <= names
    assert "newsletter/templates/email/digest/body.mjml" in names
    assert any(n.startswith("newsletter/samples/briefings/") for n in names)
    assert "newsletter/samples/publications.toml" in names
    migrations = {p.name for p in (ROOT / "newsletter/migrations/versions").glob("*.py")}
    assert {n.rsplit("/", 1)[-1] for n in names if "/migrations/versions/" in n} >= migrations
    catalogs = {
        path.relative_to(ROOT).as_posix() for path in (ROOT / "newsletter/locale").rglob("*.mo")
    }
    assert len(catalogs) >= 10  # email and web, for de, fr, es, ar and ko at least
    assert catalogs <= names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "newsletter = newsletter.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
