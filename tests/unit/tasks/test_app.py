"""The Celery composition root: broker, policy, beat schedule, lazy app, stamped messages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from celery import Celery
from celery.exceptions import Reject

import tasks
from newsletter.settings import Settings
from tasks import app as app_module  # noqa: F401  (the submodule; ``tasks.app`` is the instance)
from tasks.app import TICK_TASK, broker_config, current_celery, make_celery, set_current_celery
from tasks.deployment import (
    HEADER,
    HINT_HEADER,
    DeploymentTask,
    StampingAMQP,
    database_identity,
    identity_of,
)


def test_default_broker_is_the_filesystem_under_the_data_dir(data_dir: Path) -> None:
    """No broker URL means Celery's filesystem transport in <data dir>/broker, folders created."""
    url, options = broker_config(Settings(data_dir=data_dir))
    assert url == "newsletterfs://"
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
            "publish_changes",
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


# -- no cross-talk: messages name their database --------------------------------------


def probe() -> str:
    """A task body that only says it ran."""
    return "ran"


def probe_app(data_dir: Path) -> Celery:
    """An app of ``make_celery`` with the ``probe`` task."""
    celery = make_celery(Settings(data_dir=data_dir))
    celery.task(name="probe")(probe)
    return celery


def run_as_worker(celery: Celery, **headers: str) -> object:
    """Run ``probe`` as a worker would for a message with these headers."""
    task = celery.tasks["probe"]
    task.push_request(id="m-1", called_directly=False, **headers)
    try:
        return task()
    finally:
        task.pop_request()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "postgresql://u:secret@DB.example:5432/news",
            "postgresql+psycopg://other@db.example/news",
        ),
        ("postgres://db.example/news?sslmode=require", "postgresql://db.example:5432/news"),
    ],
)
def test_database_identity_ignores_driver_credentials_and_options(first: str, second: str) -> None:
    """The same database spelled differently has one identity, and the hint shows no password."""
    assert database_identity(first) == database_identity(second)
    assert database_identity(first).hint == "postgresql://db.example:5432/news"


def test_database_identity_tells_databases_apart(tmp_path: Path) -> None:
    """Another database name, host or SQLite file is another identity; SQLite paths resolve."""
    names = [
        "postgresql://db.example/news",
        "postgresql://db.example/news2",
        "postgresql://db2.example/news",
        f"sqlite:///{tmp_path / 'a.sqlite3'}",
        f"sqlite:///{tmp_path / 'b.sqlite3'}",
    ]
    assert len({database_identity(name).fingerprint for name in names}) == len(names)
    assert database_identity(f"sqlite:///{tmp_path / 'x' / '..' / 'a.sqlite3'}") == (
        database_identity(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    )


def test_every_message_is_stamped_with_the_app_database(data_dir: Path) -> None:
    """Messages built by the app carry the database fingerprint and hint headers."""
    celery = probe_app(data_dir)
    message = celery.amqp.create_task_message("id-1", "probe", (), {})
    mine = identity_of(celery)
    assert mine is not None
    assert message.headers[HEADER] == mine.fingerprint
    assert (
        message.headers[HINT_HEADER] == mine.hint == f"sqlite:///{data_dir / 'newsletter.sqlite3'}"
    )


def test_a_message_for_another_database_is_refused_loudly(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker's message stamped for another database raises Reject (no requeue), logging ERROR."""
    celery = probe_app(data_dir)
    other = database_identity("postgresql://db.example/other")
    with caplog.at_level(logging.WARNING), pytest.raises(Reject) as refused:
        run_as_worker(celery, **{HEADER: other.fingerprint, HINT_HEADER: other.hint})
    assert refused.value.requeue is False
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert other.hint in record.getMessage()
    assert f"sqlite:///{data_dir / 'newsletter.sqlite3'}" in record.getMessage()


def test_own_unstamped_direct_and_eager_messages_run(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The app's own messages run silently; an unstamped one runs with a warning; calls run."""
    celery = probe_app(data_dir)
    mine = identity_of(celery)
    assert mine is not None
    with caplog.at_level(logging.WARNING):
        assert run_as_worker(celery, **{HEADER: mine.fingerprint}) == "ran"
        assert caplog.records == []
        assert run_as_worker(celery) == "ran"
        [warning] = caplog.records
        assert warning.levelno == logging.WARNING
        assert "no newsletter_db header" in warning.getMessage()
        assert celery.tasks["probe"]() == "ran"
        assert celery.tasks["probe"].apply().get() == "ran"
    assert len(caplog.records) == 1
    # An app not built by make_celery has no database: it neither stamps nor checks.
    plain = Celery("plain", set_as_current=False, task_cls=DeploymentTask, amqp=StampingAMQP)
    plain.task(name="probe")(probe)
    assert run_as_worker(plain, **{HEADER: "someone-else"}) == "ran"
    assert HEADER not in plain.amqp.create_task_message("id-2", "probe", (), {}).headers


def test_json_logs_in_a_worker_name_the_task(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NEWSLETTER_LOG_FORMAT=json: a line logged by a running task is JSON with its id."""
    import io
    import json
    import sys

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    try:
        app = make_celery(Settings(data_dir=data_dir, log_format="json"))

        @app.task(name="test.logs")
        def logs() -> None:
            logging.getLogger("tasks.test").warning("inside")

        logs.apply(task_id="task-7")
        logging.getLogger("tasks.test").warning("outside")
    finally:
        root.handlers, root.level = saved
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    inside, outside = (line for line in lines if line["logger"] == "tasks.test")
    assert (inside["message"], inside["task_id"], inside["task_name"]) == (
        "inside",
        "task-7",
        "test.logs",
    )
    assert (outside["task_id"], outside["task_name"]) == ("", "")
