"""The feed benchmark's HTTP part: the app under uvicorn against a static file server, with wrk.

The web app runs as ``newsletter web`` would (``create_app`` under uvicorn, one
process, configured through ``NEWSLETTER_*`` variables); the static server is
Python's ``http.server`` serving the very bytes the app served, from a file. wrk
(16 connections, 2 threads) drives each for the same time, one after the other;
the app's CPU per request comes from ``/proc``: its process only, not the database.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench._cpu import process_cpu
from bench._stack import wait_for

CONNECTIONS = 16
APP_PORT = 18590
STATIC_PORT = 18591

_SERVE = """
import uvicorn
from newsletter.app.factory import create_app
from newsletter.settings import Settings
uvicorn.run(create_app(Settings()), host="127.0.0.1", port={port}, log_level="warning")
"""


def wrk_found() -> bool:
    """Whether the wrk load generator is installed."""
    return shutil.which("wrk") is not None


def wrk(url: str, seconds: float, *headers: str) -> tuple[float, int]:
    """Requests per second and requests made by wrk against ``url``."""
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s"]
    for header in headers:
        command += ["-H", header]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if rate is None or count is None:
        raise RuntimeError(f"unexpected wrk output: {out}")
    return float(rate.group(1)), int(count.group(1))


def _fetch(url: str) -> tuple[bytes, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read(), response.headers["ETag"]
    except OSError:
        return None


def measure(database_url: str, path: str, seconds: float) -> dict[str, float]:
    """Rates and CPU per request: the app's feed 200 (identity, gzip) and 304, and static."""
    env = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_BASE_URL": "https://bench.example.org",
    }
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-feeds-http-") as tmp:
        env["NEWSLETTER_DATA_DIR"] = str(Path(tmp) / "var")
        app = subprocess.Popen([sys.executable, "-c", _SERVE.format(port=APP_PORT)], env=env)
        try:
            url = f"http://127.0.0.1:{APP_PORT}{path}"
            body, etag = wait_for(lambda: _fetch(url), timeout=60, what="the web app")
            figures["feed_kb"] = len(body) / 1000
            runs = {
                "app_200": (),
                "app_200_gzip": ("Accept-Encoding: gzip",),
                "app_304": (f"If-None-Match: {etag}",),
            }
            for name, headers in runs.items():
                wrk(url, 1, *headers)  # warm up
                before = process_cpu(app.pid) or 0.0
                rate, count = wrk(url, seconds, *headers)
                after = process_cpu(app.pid) or 0.0
                figures[f"{name}_rps"] = rate
                figures[f"{name}_cpu_ms"] = (after - before) / max(count, 1) * 1000
        finally:
            app.terminate()
            app.wait()
        root = Path(tmp) / "static"
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True)
        target.write_bytes(body)
        static = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(STATIC_PORT), "--bind", "127.0.0.1"],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            static_url = f"http://127.0.0.1:{STATIC_PORT}{path}"
            wait_for(lambda: _fetch(static_url), timeout=30, what="the static server")
            wrk(static_url, 1)
            time.sleep(0.1)
            figures["static_200_rps"], _ = wrk(static_url, seconds)
        finally:
            static.terminate()
            static.wait()
    return figures
