"""Fault harness: one edition to N readers on real processes while the provider misbehaves.

Each run makes a fresh PostgreSQL database and an empty broker, seeds a publication
with N confirmed readers, starts ``newsletter web`` (the signed Event Webhook), one or
more ``celery -A tasks worker`` and a ``celery -A tasks beat``, and the SendGrid test
server in this process. Scenarios:

  a  25 % of mail sends accepted but answered after the client timeout (2 s; the
     answer comes after 5 s), no events at all
  b  the same, every event post 15 minutes late
  c  connection refused for 60 s mid-send
  d  429 for two minutes mid-send (X-RateLimit-Reset at the period's end)
  e  SIGKILL of a worker's process group at three random moments, each replaced
  f  outbox on a full filesystem mid-send (a tmpfs; root only), freed 30 s later

By default the edition is scheduled 14 minutes ahead, so it is sent ahead under
cancellable provider batch ids (``docs/delivery.md``, "Sending ahead"); once every
request is settled the harness moves the test server's clock past the instant so it
releases the mail, and waits for the edition's final state (without events that is
the instant on the workers' clock, so such runs take about 15 minutes). With
``--immediate`` the edition is sent now (the weaker, event-based guarantee); the
outbox scenario is always immediate. Each run prints what the provider released
(delivered, duplicates, lost) and whether ``delivery_report`` (by_state, state)
matches it reader by reader (``bench/_faultcheck.py``). Target: 0, 0, truthful.

    python -m bench faults --scenario a --scenario c --runs 3 --readers 10000
"""

from __future__ import annotations

import random
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import redis

from bench import _faultdisk, _stack
from bench._faultcheck import Outcome, Tally, judge
from bench._faultstack import SLUG, Deployment, FaultThread
from newsletter.db import utcnow
from newsletter.delivery.report import delivery_report
from newsletter.providers.interfaces import CANCEL_CUTOFF
from newsletter.schedules import editions
from newsletter.sendgrid_testserver.server import Fault, SendGridTestServer
from tests.scratchdb import fresh_postgres

SCENARIOS = {
    "a": "25 % of requests answered after the client timeout, no events",
    "b": "25 % of requests answered after the client timeout, events 15 minutes late",
    "c": "connection refused for 60 s mid-send",
    "d": "429 for two minutes mid-send",
    "e": "SIGKILL of a worker at three random moments",
    "f": "outbox on a full filesystem mid-send, then freed",
}
READERS = 10_000
RUNS = 1
DUE_IN = timedelta(minutes=14)
LATE_ANSWER_S = 5.0  # past NEWSLETTER_SENDGRID_TIMEOUT = 2 s
EVENT_DELAY_S = 900.0
REFUSE_S = 60.0
RATE_LIMIT_S = 120.0
KILLS = 3
FULL_FOR_S = 30.0


@dataclass(frozen=True)
class Config:
    """What every run of one invocation shares."""

    database_url: str
    broker_url: str  # "" uses the filesystem broker in the run's data directory
    readers: int = READERS
    workers: int = 1
    seed: int = 0
    immediate: bool = False
    prefix: str = _stack.DEFAULT_PREFIX
    due_in: timedelta = DUE_IN

    def batch_size(self) -> int:
        """The production batch (1000), smaller for a small list so it still has several."""
        return max(10, min(1000, self.readers // 4))


def _after_requests(server: SendGridTestServer, count: int, dep: Deployment) -> None:
    """Wait until the server accepted ``count`` mail sends."""
    _stack.wait_for(
        lambda: dep.check_alive() or len(server.accepted) >= count,
        timeout=600,
        what=f"{count} accepted request(s)",
        every=0.02,
    )


def _action(
    scenario: str,
    dep: Deployment,
    rng: random.Random,
    readers: int,
    batches: int,
    did: list[str],
) -> Callable[[], None]:
    """What the fault thread does for ``scenario``; it notes each act in ``did``."""
    server = dep.server

    def outage() -> None:
        assert server is not None
        _after_requests(server, rng.randrange(1, max(2, batches // 2 + 1)), dep)
        if scenario == "c":
            server.refuse_connections(REFUSE_S)
        else:
            server.rate_limit(RATE_LIMIT_S)
        did.append(f"outage from request {len(server.accepted)}")

    def kills() -> None:
        assert server is not None
        for at in sorted(rng.randrange(0, batches) for _ in range(KILLS)):
            _after_requests(server, at, dep)
            time.sleep(rng.uniform(0.0, 1.0))  # the moment within a request, at random
            dep.kill_worker(rng.choice(sorted(dep.workers)))
            did.append(f"kill after {len(server.accepted)} request(s)")
            dep.start_worker()

    def full_disk() -> None:
        outbox = dep.data_dir / "outbox"
        threshold = rng.randrange(0, max(1, readers // 2))
        _stack.wait_for(
            lambda: dep.check_alive() or len(list(outbox.glob("*.eml"))) >= threshold,
            timeout=600,
            what=f"{threshold} message files",
            every=0.05,
        )
        _faultdisk.fill(outbox / ".ballast", leave=rng.randrange(5, 50) * 20_000)
        did.append(f"disk full after {len(list(outbox.glob('*.eml')))} files")
        freed = threading.Event()
        threading.Timer(FULL_FOR_S, freed.set).start()
        _stack.wait_for(freed.is_set, timeout=FULL_FOR_S + 60, what="the disk to be freed")
        (outbox / ".ballast").unlink()

    actions: dict[str, Callable[[], None]] = {"c": outage, "d": outage, "e": kills}
    return actions.get(scenario, full_disk if scenario == "f" else (lambda: None))


def _server(scenario: str, rng: random.Random, webhook_url: str) -> SendGridTestServer:
    """The test server with the scenario's random faults and event faults."""
    late = scenario in ("a", "b")
    server = SendGridTestServer(
        api_key=_stack.API_KEY,
        webhook_url=webhook_url,
        event_retry_for=120.0,
        fault_rate=0.25 if late else 0.0,
        seed=rng.randrange(2**31),
        random_faults=(Fault.LATE_ANSWER(LATE_ANSWER_S),),
    )
    if scenario == "a":
        server.set_event_faults(drop_rate=1.0)
    elif scenario == "b":
        server.set_event_faults(delay=EVENT_DELAY_S)
    return server


def _settled(dep: Deployment) -> bool:
    """Every request answered or cancelled and resent: nothing planned, sending or unknown."""
    dep.check_alive()
    ledger = dep.ledger()
    batches, groups = ledger["batches"], ledger["groups"]
    waiting = sum(batches.get(state, 0) for state in ("planned", "sending", "unknown"))
    return bool(batches) and waiting == 0 and groups.get("cancelling", 0) == 0


def _drive(cfg: Config, scenario: str, rng: random.Random, root: Path, url: str) -> Outcome:
    """One run on a fresh database; see the module docstring."""
    immediate = cfg.immediate or scenario == "f"
    dep = Deployment(root, url, cfg.broker_url, batch_size=cfg.batch_size())
    batches = -(-cfg.readers // cfg.batch_size())
    notes: dict[str, object] = {}
    outbox = dep.data_dir / "outbox"
    files: dict[str, int] = {}
    problems: list[str] = []
    with ExitStack() as stack:
        if scenario == "f":  # closed last: the files are counted before it is unmounted

            def count_files() -> None:
                files.update(_faultdisk.copies(dep, outbox))
                left = _faultdisk.temporaries(outbox)
                if left:
                    problems.append(f"{len(left)} staged file(s) left in the outbox: {left[0]}, …")

            stack.enter_context(_faultdisk.small_disk(outbox, cfg.readers))
            stack.callback(count_files)
        stack.callback(dep.stop)
        if scenario != "f":
            dep.server = _server(scenario, rng, dep.webhook_url).start()
            stack.callback(dep.server.stop)  # before the processes: it flushes its event posts
        dep.migrate()
        now = utcnow()
        dep.seed(cfg.readers, now=now)
        due_at = _schedule(dep, None if immediate else (now + cfg.due_in), now)
        if dep.server is not None:
            dep.start_web()
        for _ in range(cfg.workers):
            dep.start_worker()
        dep.start_beat()
        did: list[str] = []
        notes["fault"] = did
        fault = FaultThread(_action(scenario, dep, rng, cfg.readers, batches, did))
        try:
            if due_at is not None:
                notes["cancelled_ids"] = _release(dep, fault, due_at)
            wait_s = (due_at - utcnow()).total_seconds() + 600 if due_at else 900.0
            _stack.wait_for(
                lambda: fault.check() and dep.final(),
                timeout=wait_s,
                what="the final state",
                every=1,
            )
            if scenario == "b":
                notes["late_events_posted"] = _late_events(dep)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; ledger {dep.ledger()}; errors {dep.errors()}") from exc
        # Closing: the server, then every process; nothing changes from here on.
    if dep.server is not None:
        did.append(f"{len(dep.server.accepted)} mail sends accepted")
    copies = dict(dep.server.delivered_recipients()) if dep.server else files
    with dep.session() as session:
        found = dep.digest()
        assert found is not None
        report = delivery_report(session, found[0])
    notes["errors"] = dep.errors()
    notes["ledger"] = dep.ledger()
    return judge(dep.reader_states(), copies, report, notes=notes, problems=problems)


def _release(dep: Deployment, fault: FaultThread, due_at: datetime) -> int:
    """Wait until every request is settled, then move the provider's clock past the instant."""
    assert dep.server is not None
    cutoff = (due_at - CANCEL_CUTOFF - utcnow()).total_seconds()
    _stack.wait_for(
        lambda: fault.check() and _settled(dep),
        timeout=max(30.0, cutoff),
        what="every request settled before the cancel cutoff",
        every=0.5,
    )
    cancelled = dep.cancelled_groups()
    dep.server.advance(max(0.0, (due_at - utcnow()).total_seconds()) + 1)
    return cancelled


def _schedule(dep: Deployment, due: datetime | None, now: datetime) -> datetime | None:
    """Schedule the edition at ``due`` (a whole minute) or send it now; its delivery instant."""
    with dep.session() as session:
        if due is None:
            editions.send_now(session, SLUG, now=now)
            return None
        due = due.replace(second=0, microsecond=0)
        editions.schedule_once(session, SLUG, due.replace(tzinfo=None), now=now)  # UTC zone
        return due


def _late_events(dep: Deployment) -> bool:
    """Wait for the late event posts to arrive and be applied (scenario b)."""
    from newsletter.delivery.inbox import pending_posts

    assert dep.server is not None
    posted = dep.server.wait_for_events(EVENT_DELAY_S + 300)

    def applied() -> bool:
        with dep.session() as session:
            return pending_posts(session) == 0

    _stack.wait_for(applied, timeout=300, what="the workers to apply the late events", every=1)
    return posted


def one_run(cfg: Config, scenario: str, number: int) -> tuple[Outcome, float, Path | None]:
    """One run; its outcome, seconds, and the folder of logs kept when it was not clean.

    A run that could not finish (a process died, the edition never reached a final
    state) raises, naming what it waited for, with the ledger; its logs are kept.
    """
    rng = random.Random(f"{cfg.seed}-{scenario}-{number}")
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix=f"faults-{scenario}-"))
    try:
        _flush(cfg.broker_url)
        with fresh_postgres(cfg.database_url, cfg.prefix) as url:
            outcome = _drive(cfg, scenario, rng, root, url)
    except Exception as exc:
        raise RuntimeError(f"{exc} (logs in {root})") from exc
    finally:
        _flush(cfg.broker_url)
    if outcome.clean:
        shutil.rmtree(root, ignore_errors=True)
    return outcome, time.monotonic() - started, None if outcome.clean else root


@contextmanager
def _stop_cleanly_on_sigterm() -> Iterator[None]:
    """SIGTERM ends the harness as Ctrl+C does: each run stops its processes and drops its
    database on the way out, leaving no orphaned worker on the shared broker."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _flush(broker_url: str) -> None:
    """Empty the Redis database the run uses as its broker."""
    if broker_url.startswith("redis"):
        client = redis.Redis.from_url(broker_url)
        client.flushdb()
        client.close()


def run(
    scale: float = 1.0,
    *,
    database_url: str | None = None,
    broker_url: str | None = None,
    db_prefix: str = _stack.DEFAULT_PREFIX,
    scenarios: list[str] | None = None,
    runs: int | None = None,
    readers: int | None = None,
    workers: int | None = None,
    seed: int | None = None,
    immediate: bool = False,
) -> dict[str, float]:
    """Run each chosen scenario ``runs`` times; print each run and the totals."""
    if not database_url:
        print("faults: skipped (needs --database-url for PostgreSQL)")
        return {}
    chosen = scenarios or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        raise ValueError(f"--scenario: unknown {', '.join(unknown)} (have {', '.join(SCENARIOS)})")
    cfg = Config(
        database_url=database_url,
        broker_url=broker_url or "",
        readers=readers or max(100, int(READERS * scale)),
        workers=workers or 1,
        seed=seed or 0,
        immediate=immediate,
        prefix=db_prefix,
    )
    mode = "immediate (event-based)" if immediate else "scheduled ahead (cancellable)"
    print(f"fault harness: {cfg.readers:,} readers, {cfg.workers} worker(s), {mode}")
    figures: dict[str, float] = {}
    with _stop_cleanly_on_sigterm():
        for scenario in chosen:
            figures.update(_scenario(cfg, scenario, runs or RUNS))
    return figures


def _scenario(cfg: Config, scenario: str, runs: int) -> dict[str, float]:
    """Run one scenario ``runs`` times, print each run and the totals; the totals."""
    tally = Tally()
    for number in range(1, runs + 1):
        try:
            outcome, seconds, kept = one_run(cfg, scenario, number)
        except RuntimeError as exc:
            tally.broken += 1
            print(f"{scenario} run {number}: DID NOT FINISH: {exc}", flush=True)
            continue
        tally.add(outcome, seconds)
        cancelled = outcome.notes.get("cancelled_ids")
        extra = "" if cancelled is None else f"; {cancelled} batch id(s) cancelled and resent"
        extra += "".join(f"; {act}" for act in outcome.notes.get("fault", []))
        print(f"{scenario} run {number}: {outcome.line()}{extra} ({seconds:.0f} s)", flush=True)
        for problem in outcome.problems:
            print(f"    {problem}")
        if kept is not None:
            print(f"    logs kept in {kept}; ledger {outcome.notes.get('ledger')}")
            for error in outcome.notes.get("errors", []):
                print(f"    {error}")
    print(
        f"{scenario} ({SCENARIOS[scenario]}): {tally.runs} run(s), {tally.clean} clean; "
        f"duplicates {tally.duplicates}, lost {tally.lost}, untruthful reports "
        f"{tally.untruthful}, unfinished {tally.broken}",
        flush=True,
    )
    return tally.figures(scenario)
