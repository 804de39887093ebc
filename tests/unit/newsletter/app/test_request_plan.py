"""``request_plan``: the alert's plan message goes to the deployment's broker; a broker that
cannot be reached is a warning and ``False`` (the tick plans it later), never an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.app.apply_requests import request_plan
from newsletter.runtime import Runtime
from newsletter.settings import Settings


def test_the_plan_message_reaches_the_embedded_broker(runtime: Runtime, data_dir: Path) -> None:
    """With the embedded broker the message is a file in its queue, naming the task and id."""
    assert request_plan(runtime, 42) is True
    messages = [path for path in (data_dir / "broker").rglob("*") if path.is_file()]
    bodies = [path.read_text(errors="replace") for path in messages]
    assert any("tasks.pipeline.plan" in body for body in bodies)
    assert any(json.dumps([42]).strip("[]") in body for body in bodies)


def test_an_unreachable_broker_is_a_warning(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No broker at the address: False and a warning saying the tick will plan it."""
    settings = Settings(data_dir=data_dir, broker_url="redis://127.0.0.1:1/0")
    runtime = Runtime(settings)
    try:
        assert request_plan(runtime, 7) is False
    finally:
        runtime.close()
    assert "could not ask a worker to plan digest 7 (the tick will)" in caplog.text
