"""The Celery composition root: broker from settings, policy, beat schedule, lazy package app."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery import Celery

import tasks
from newsletter.settings import Settings
from tasks import app as app_module  # noqa: F401  (the submodule; ``tasks.app`` is the instance)
from tasks.app import TICK_TASK, broker_config, current_celery, make_celery, set_current_celery


def test_default_broker_is_the_filesystem_under_the_data_dir(data_dir: Path) -> None:
    """No broker URL means Celery's filesystem transport in <data dir>/broker, folders created."""
    url, options = broker_config(Settings(data_dir=data_dir))
    assert url == "filesystem://"
    assert (
        options["data_folder_in"]
        == options["data_folder_out"]
        == str(data_dir / "broker" / "queue")
    )
    assert Path(options["processed_folder"]).is_dir()
    assert Path(options["control_folder"]).is_dir()


def test_redis_url_is_used_with_a_visibility_timeout_longer_than_a_task(data_dir: Path) -> None:
    """A Redis URL is passed on, with a visibility timeout above the task time limit."""
    settings = Settings(data_dir=data_dir, broker_url="redis://localhost:6379/3")
    url, options = broker_config(settings)
    assert url == "redis://localhost:6379/3"
    assert options["visibility_timeout"] >= 2 * settings.task_time_limit.total_seconds()


def test_app_policy_and_beat_schedule(data_dir: Path) -> None:
    """Tasks ack late, return to the queue if a worker dies, have limits; beat ticks each minute."""
    celery = make_celery(Settings(data_dir=data_dir))
    conf = celery.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.beat_schedule["tick"] == {"task": TICK_TASK, "schedule": 60.0}
    assert conf.task_ignore_result is True
    names = {name for name in celery.tasks if name.startswith("tasks.pipeline.")}
    assert names == {
        f"tasks.pipeline.{step}"
        for step in (
            "tick",
            "assemble",
            "render",
            "publish",
            "plan",
            "send_batch",
            "finalise",
            "recover",
        )
    }
    send_batch = celery.tasks["tasks.pipeline.send_batch"]
    assert send_batch.acks_late is True
    assert send_batch.retry_jitter is True


def test_package_exposes_the_app_lazily(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``tasks.app`` and ``tasks.celery`` are the same Celery app, built from the environment."""
    monkeypatch.setenv("NEWSLETTER_DATA_DIR", str(data_dir))
    set_current_celery(None)
    try:
        assert isinstance(tasks.app, Celery)
        assert tasks.celery is tasks.app is current_celery()
        assert tasks.app.conf.beat_schedule_filename == str(data_dir / "celerybeat-schedule")
        with pytest.raises(AttributeError, match="no attribute 'nothing'"):
            tasks.nothing  # noqa: B018
    finally:
        set_current_celery(None)
