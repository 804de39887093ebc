"""Third-party checkers for emails and pages: axe-core in Chromium, the Nu HTML Checker.

Both come from npm at the versions pinned in ``.ci/checkers/package-lock.json``;
``.ci/run`` installs them with ``.ci/install-checkers`` (on a laptop, run that script
once) into ``$NEWSLETTER_TEST_CHECKERS``, else ``${XDG_CACHE_HOME:-~/.cache}/newsletter/
checkers``. Nothing is downloaded at test time: without the files (or without java for
the Nu checker) the tests skip with the reason, and fail under
``NEWSLETTER_REQUIRE_SERVICES=1`` like every other missing service.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from tests import services

INSTALL_HINT = "run .ci/install-checkers (npm) once"
AXE_SCRIPT = Path("node_modules/axe-core/axe.min.js")
VNU_JAR = Path("node_modules/vnu-jar/build/dist/vnu.jar")
# Every rule of axe's default set, WCAG 2.x A and AA and its best practices, runs.
_AXE_RUN = """async (off) => {
  const rules = Object.fromEntries(off.map(id => [id, {enabled: false}]));
  const result = await axe.run(document, {resultTypes: ["violations"], rules});
  return result.violations.map(v => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map(n => n.target.join(" ") + ": " + (n.failureSummary || "")),
  }));
}"""
_UNSAFE_NAME = re.compile(r"[^a-z0-9-]+")


def checkers_dir() -> Path:
    """Where ``.ci/install-checkers`` put the checkers."""
    configured = os.environ.get("NEWSLETTER_TEST_CHECKERS")
    if configured:
        return Path(configured)
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "newsletter" / "checkers"


@cache
def _axe_source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def axe_source() -> str:
    """axe-core's script, or skip/fail when it is not installed."""
    path = checkers_dir() / AXE_SCRIPT
    if not path.is_file():
        services.unavailable(f"axe-core is not installed at {path}: {INSTALL_HINT}")
    return _axe_source(path)


def vnu_command() -> list[str]:
    """The command that runs the Nu HTML Checker, or skip/fail when it cannot run."""
    jar = checkers_dir() / VNU_JAR
    java = shutil.which("java")
    if not jar.is_file():
        services.unavailable(f"the Nu HTML Checker is not installed at {jar}: {INSTALL_HINT}")
    if java is None:
        services.unavailable(
            "the Nu HTML Checker needs java (apt-get install default-jre-headless)"
        )
    return [str(java), "-jar", str(jar)]


# An email is shown inside a mail client's own page, which has its landmarks (its
# <main>): the two rules asking a whole page to sit in landmarks do not apply to it.
EMAIL_RULES_OFF = ("landmark-one-main", "region")


def axe_violations(page: Any, rules_off: Sequence[str] = ()) -> list[str]:
    """axe-core's violations on what ``page`` shows, one line per rule and element.

    The page's context must allow JavaScript; the script is added to the page itself,
    so a page served with a CSP should be loaded with ``set_content``.
    """
    page.add_script_tag(content=axe_source())
    found: list[dict[str, Any]] = page.evaluate(_AXE_RUN, list(rules_off))
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {node}" for v in found for node in v["nodes"]
    ]


def axe_check(
    browser: Any, documents: Mapping[str, str], scheme: str, rules_off: Sequence[str] = ()
) -> dict[str, list[str]]:
    """axe-core's violations of each document (name: HTML) in ``scheme`` (light or dark).

    Each loads with the network cut off, on a desktop-wide page; documents without a
    violation are left out. ``rules_off`` names axe rules not to run. One page serves
    every document, each on a fresh ``about:blank`` (a new document and window, nothing
    left of the one before): opening a page per document took most of the time.
    """
    context = browser.new_context(
        color_scheme=scheme, viewport={"width": 1000, "height": 800}, java_script_enabled=True
    )
    context.route("**/*", lambda route: route.abort())
    problems: dict[str, list[str]] = {}
    try:
        page = context.new_page()
        for name, html in documents.items():
            page.goto("about:blank")
            page.set_content(html, wait_until="load")
            found = axe_violations(page, rules_off)
            if found:
                problems[name] = found
    finally:
        context.close()
    return problems


def nu_check(documents: Mapping[str, str]) -> dict[str, list[str]]:
    """The Nu HTML Checker's errors in each document (name: HTML), all in one java run.

    Starting the JVM costs most of the time, so every document is written to a folder
    and checked at once. Errors only: its warnings are advice, not conformance errors.
    """
    command = vnu_command()
    with tempfile.TemporaryDirectory(prefix="nu-check-") as folder:
        by_path: dict[str, str] = {}
        paths: list[str] = []
        for number, (name, html) in enumerate(documents.items()):
            path = (
                Path(folder).resolve() / f"{number:03d}-{_UNSAFE_NAME.sub('-', name.lower())}.html"
            )
            path.write_text(html, encoding="utf-8")
            by_path[path.as_uri()] = name
            paths.append(str(path))
        result = subprocess.run(
            [*command, "--format", "json", "--stdout", "--exit-zero-always", *paths],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if result.returncode != 0:
        raise AssertionError(f"the Nu HTML Checker failed: {result.stderr.strip()[-2000:]}")
    problems: dict[str, list[str]] = {}
    for message in json.loads(result.stdout)["messages"]:
        if message.get("type") == "info":
            continue
        name = by_path.get(_as_uri(message.get("url", "")), message.get("url", "?"))
        where = f"line {message.get('lastLine', '?')}"
        extract = " ".join(str(message.get("extract", "")).split())[:120]
        problems.setdefault(name, []).append(f"{where}: {message['message']} [{extract}]")
    return problems


def _as_uri(url: str) -> str:
    """vnu writes ``file:/tmp/x``; ``Path.as_uri`` writes ``file:///tmp/x``."""
    if url.startswith("file:") and not url.startswith("file://"):
        return "file://" + url.removeprefix("file:")
    return url
