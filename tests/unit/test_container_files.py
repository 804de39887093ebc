"""The Dockerfile and the compose example agree with the repository (no Docker needed).

Docker is not installed where these files were written, so nothing here builds or runs
an image. What can be checked without it is: every path the Dockerfile copies exists and
is not left out of the build context by .dockerignore, and together they are what
``pip install .`` needs (pyproject's readme, wheel packages and force-included folders);
the image runs as a non-root user with the ``newsletter`` console script as its entry
point; the compose example is valid YAML whose services build that Dockerfile from the
repository root, run commands the CLI has, and set only settings that exist.
"""

from __future__ import annotations

import shlex
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml

from newsletter import cli
from newsletter.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docs" / "examples" / "docker-compose.yml"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped)."""
    lines: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    assert not pending, "a continued instruction never ends"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def copied() -> list[str]:
    """The sources of every COPY (relative to the build context, the repository root)."""
    sources: list[str] = []
    for name, args in instructions():
        if name == "COPY":
            parts = shlex.split(args)
            assert not any(part.startswith("--from") for part in parts)
            sources += parts[:-1]
    return sources


def ignored(path: str) -> bool:
    """Whether .dockerignore leaves ``path`` out of the build context."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns)  # no exceptions to reason about
    return any(fnmatch(path, p) or fnmatch(path, p.removeprefix("**/")) for p in patterns)


def test_dockerfile_copies_what_pip_install_needs() -> None:
    """Every copied path exists, is in the context, and the set covers pyproject's build."""
    sources = copied()
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        assert not ignored(source), f".dockerignore leaves out {source}, which is copied"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {
        "pyproject.toml",
        project["project"]["readme"],
        *wheel["packages"],
        *wheel.get("force-include", {}),
    }
    assert needed <= set(sources), f"not copied: {sorted(needed - set(sources))}"
    runs = [args for name, args in instructions() if name == "RUN"]
    assert any("pip install ." in run for run in runs)


def test_image_runs_newsletter_as_a_non_root_user() -> None:
    """python:3.11-slim, a USER that is not root before the entry point, which is the
    console script pyproject declares, and the web port the settings default to."""
    steps = instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    names = [name for name, _ in steps]
    user = [args for name, args in steps if name == "USER"]
    assert user
    assert user[-1] not in ("root", "0")
    assert names.index("USER") < names.index("ENTRYPOINT")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (entry,) = [args for name, args in steps if name == "ENTRYPOINT"]
    assert yaml.safe_load(entry) == ["newsletter"]
    assert "newsletter" in project["project"]["scripts"]
    assert ("EXPOSE", str(Settings.model_fields["web_port"].default)) in steps


def _services() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    services: dict[str, Any] = document["services"]
    return services


def test_compose_builds_the_dockerfile_and_runs_real_commands() -> None:
    """Each publisher service builds the repository's Dockerfile (the context is relative
    to the compose file) and runs a command the CLI has; its variables are settings."""
    built = {name: s for name, s in _services().items() if "build" in s}
    assert set(built) == {"migrate", "web", "worker", "beat"}
    fields = set(Settings.model_fields)
    for name, service in built.items():
        context = (COMPOSE.parent / service["build"]["context"]).resolve()
        assert context == ROOT, name
        assert (context / service["build"]["dockerfile"]).is_file(), name
        command = service["command"]
        assert command[0] in cli._LOADERS, f"{name}: newsletter {command[0]} does not exist"
        for variable in service["environment"]:
            assert variable.startswith("NEWSLETTER_"), variable
            assert variable.removeprefix("NEWSLETTER_").lower() in fields, variable
    assert built["migrate"]["command"] == ["db", "upgrade"]
    assert built["worker"]["environment"]["NEWSLETTER_WORKER_METRICS_PORT"] == "9101"
