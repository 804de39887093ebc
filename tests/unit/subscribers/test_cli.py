"""``newsletter subscribers ...`` commands, end to end on the embedded SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.db import Database
from subscribers import services
from subscribers.models import ConsentSource, Subscription, SubscriptionState
from subscribers.transitions import Evidence
from tests.cli import run
from tests.unit.subscribers.factories import NoConfirm, outbox_messages, seed, text_of


@pytest.fixture
def env(cli_env: dict[str, str], database: Database) -> dict[str, str]:
    """A CLI environment whose database holds the "daily" publication."""
    seed(database)
    return cli_env


def test_import_reports_bad_rows_and_exits_1(env: dict[str, str], tmp_path: Path) -> None:
    """Good rows are imported, bad ones listed by row number, and the exit code says so."""
    path = tmp_path / "people.csv"
    path.write_text("email,name\nann@example.org,Ann\nbad-address,X\nann@example.org,Dup\n")
    result = run(
        env,
        "subscribers",
        "import",
        str(path),
        "--list",
        "daily",
        "--confirmed",
        "--consent",
        "Paper form",
    )
    assert result.exit_code == 1
    assert "3 rows read, 1 imported into daily (1 new subscribers), 2 refused." in result.output
    assert "row 3: bad-address: invalid address" in result.output
    assert "row 4: ann@example.org: duplicate: same address as row 2" in result.output
    clean = tmp_path / "clean.csv"
    clean.write_text("email\nbob@example.org\n")
    dry = run(env, "subscribers", "import", str(clean), "--list", "daily", "--dry-run")
    assert dry.exit_code == 0
    assert "1 would import" in dry.output


def test_import_without_confirmed_emails_each_address(
    env: dict[str, str], tmp_path: Path, data_dir: Path
) -> None:
    """A plain import leaves rows pending and puts one confirmation per address in the outbox."""
    path = tmp_path / "people.csv"
    path.write_text("email\nann@example.org\nbob@example.org\n")
    result = run(env, "subscribers", "import", str(path), "--list", "daily")
    assert result.exit_code == 0, result.output
    messages = outbox_messages(data_dir / "outbox")
    assert sorted(m["To"] for m in messages) == ["ann@example.org", "bob@example.org"]


def test_unusable_file_is_one_line_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    """A wrong header or bad encoding prints one line and exits 2."""
    path = tmp_path / "wrong.csv"
    path.write_text("mail\nann@example.org\n")
    result = run(
        env, "subscribers", "import", str(path), "--list", "daily", "--confirmed", "--consent", "x"
    )
    assert result.exit_code == 2
    assert "line 1: header" in result.output
    assert "Traceback" not in result.output
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"email\nrene@caf\xe9.org\n")
    encoded = run(
        env, "subscribers", "import", str(latin), "--list", "daily", "--confirmed", "--consent", "x"
    )
    assert encoded.exit_code == 2
    assert "not UTF-8" in encoded.output


def test_add_show_unsubscribe_suppress(env: dict[str, str], database: Database) -> None:
    """add, show (text and JSON), unsubscribe from one list and suppress work together."""
    added = run(
        env,
        "subscribers",
        "add",
        "ann@example.org",
        "--list",
        "daily",
        "--name",
        "Ann",
        "--topic",
        "Sport",
        "--confirmed",
        "--consent",
        "Asked at the desk",
    )
    assert added.exit_code == 0
    assert "confirmed" in added.output
    shown = run(env, "subscribers", "show", "ann@example.org")
    assert "daily: confirmed" in shown.output
    assert "digest: every edition, Sport" in shown.output
    assert "alerts: off" in shown.output
    data = json.loads(run(env, "subscribers", "show", "ann@example.org", "--json").output)
    assert data["subscriptions"][0]["state"] == "confirmed"
    assert (data["subscriptions"][0]["digests"], data["subscriptions"][0]["alerts"]) == (
        True,
        False,
    )
    gone = run(env, "subscribers", "unsubscribe", "ann@example.org", "--list", "daily")
    assert "1 subscription(s) ended" in gone.output
    again = run(env, "subscribers", "unsubscribe", "ann@example.org", "--list", "daily")
    assert "0 subscription(s) ended" in again.output
    everywhere = run(env, "subscribers", "unsubscribe", "ann@example.org")
    assert "0 subscription(s) ended" in everywhere.output
    blocked = run(env, "subscribers", "suppress", "ann@example.org", "--reason", "spam_report")
    assert "suppressed (spam_report)" in blocked.output
    assert "suppressed: spam_report" in run(env, "subscribers", "show", "ann@example.org").output
    with database.session() as session:
        sub = services.get_subscriber(session, "ann@example.org").subscriptions[0]
        assert sub.state is SubscriptionState.UNSUBSCRIBED


def test_add_needs_consent_with_confirmed(env: dict[str, str]) -> None:
    """--confirmed without --consent is a usage error."""
    result = run(env, "subscribers", "add", "a@example.org", "--list", "daily", "--confirmed")
    assert result.exit_code == 2
    assert "--consent" in result.output


def test_add_pending_sends_confirmation(env: dict[str, str], data_dir: Path) -> None:
    """Adding without --confirmed sends the double opt-in email."""
    result = run(env, "subscribers", "add", "bob@example.org", "--list", "daily")
    assert "confirmation sent" in result.output
    assert len(outbox_messages(data_dir / "outbox")) == 1


def test_export_to_stdout_and_file(env: dict[str, str], tmp_path: Path) -> None:
    """export writes CSV to stdout or to --output."""
    run(
        env,
        "subscribers",
        "add",
        "ann@example.org",
        "--list",
        "daily",
        "--confirmed",
        "--consent",
        "x",
    )
    printed = run(env, "subscribers", "export", "--list", "daily")
    # A blank zone is the publication's, a blank locale its default language; every edition.
    assert "ann@example.org,,,,,daily,,yes,no," in printed.output
    target = tmp_path / "out.csv"
    run(env, "subscribers", "export", "--list", "daily", "--state", "pending", "-o", str(target))
    assert target.read_text().splitlines() == [
        "email,name,topics,timezone,locale,cadence,weekly_day,digests,alerts,alert_topics"
    ]


def test_export_data_and_erase(env: dict[str, str], tmp_path: Path) -> None:
    """export-data prints JSON (or writes it); erase asks first, then leaves only a hash."""
    run(
        env,
        "subscribers",
        "add",
        "ann@example.org",
        "--list",
        "daily",
        "--confirmed",
        "--consent",
        "x",
    )
    data = json.loads(run(env, "subscribers", "export-data", "ann@example.org").output)
    assert data["consents"][0]["text"] == "x"
    target = tmp_path / "ann.json"
    run(env, "subscribers", "export-data", "ann@example.org", "-o", str(target))
    assert json.loads(target.read_text())["email"] == "ann@example.org"
    refused = run(env, "subscribers", "erase", "ann@example.org", input="n\n")
    assert refused.exit_code == 1
    erased = run(env, "subscribers", "erase", "ann@example.org", "--yes")
    assert erased.exit_code == 0
    assert "only a hash remains" in erased.output
    missing = run(env, "subscribers", "show", "ann@example.org")
    assert "suppressed: erased" in missing.output
    unknown = run(env, "subscribers", "show", "nobody@example.org")
    assert unknown.exit_code == 2
    assert "no data" in unknown.output


def test_expire(env: dict[str, str]) -> None:
    """expire reports how many pending sign-ups it expired."""
    assert "0 pending sign-up(s) expired." in run(env, "subscribers", "expire").output


def test_confirmed_add_confirms_a_pending_subscription(env: dict[str, str], data_dir: Path) -> None:
    """add --confirmed on a pending sign-up confirms it at once, within the resend hour too."""
    assert (
        "confirmation sent"
        in run(env, "subscribers", "add", "bo@example.org", "--list", "daily").output
    )
    result = run(
        env,
        "subscribers",
        "add",
        "bo@example.org",
        "--list",
        "daily",
        "--confirmed",
        "--consent",
        "Phoned in",
    )
    assert result.output.strip() == "bo@example.org: confirmed"
    assert "daily: confirmed" in run(env, "subscribers", "show", "bo@example.org").output
    data = json.loads(run(env, "subscribers", "export-data", "bo@example.org").output)
    assert data["consents"][-1]["text"] == "Phoned in"
    # The confirmation email of the first add, then the welcome of the confirmation.
    subjects = sorted(str(m["Subject"]) for m in outbox_messages(data_dir / "outbox"))
    assert subjects == [
        "Confirm your subscription to The Daily Briefing",
        "Welcome to The Daily Briefing",
    ]


def test_non_ascii_local_part_is_one_line_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    """add refuses josé@ in one line; an import reports it by row number and keeps the rest."""
    added = run(env, "subscribers", "add", "josé@example.com", "--list", "daily")
    assert added.exit_code == 2
    assert "non-ASCII characters before the @" in added.output
    assert len(added.output.strip().splitlines()) == 1
    assert "Traceback" not in added.output
    path = tmp_path / "people.csv"
    path.write_text("email\nann@example.org\njosé@example.com\nida@bücher.de\n", encoding="utf-8")
    imported = run(env, "subscribers", "import", str(path), "--list", "daily")
    assert imported.exit_code == 1
    assert "3 rows read, 2 imported" in imported.output
    assert "row 3: josé@example.com: invalid address" in imported.output
    shown = run(env, "subscribers", "show", "ida@bücher.de")
    assert shown.output.startswith("ida@xn--bcher-kva.de")


def test_erase_deletes_outbox_messages_to_the_address(env: dict[str, str], data_dir: Path) -> None:
    """erase removes the address's .eml files from the outbox, reports how many, keeps others."""
    run(env, "subscribers", "add", "ann@example.org", "--list", "daily")
    run(env, "subscribers", "add", "bob@example.org", "--list", "daily")
    assert len(outbox_messages(data_dir / "outbox")) == 2
    erased = run(env, "subscribers", "erase", "Ann@Example.org", "--yes")
    assert erased.exit_code == 0
    assert "Ann@Example.org: 1 outbox message(s) deleted." in erased.output
    assert [m["To"] for m in outbox_messages(data_dir / "outbox")] == ["bob@example.org"]
    again = run(env, "subscribers", "erase", "ann@example.org", "--yes")
    assert again.exit_code == 2
    assert "no personal data" in again.output


def test_erase_finds_outbox_files_left_by_an_earlier_erasure(
    env: dict[str, str], data_dir: Path, database: Database
) -> None:
    """With nothing left in the database, outbox files still count as data to erase."""
    run(env, "subscribers", "add", "ann@example.org", "--list", "daily")
    with database.session() as session:
        from subscribers import personal_data

        personal_data.erase(session, "ann@example.org")
    erased = run(env, "subscribers", "erase", "ann@example.org", "--yes")
    assert erased.exit_code == 0
    assert "only a hash remains" not in erased.output
    assert "1 outbox message(s) deleted" in erased.output
    assert outbox_messages(data_dir / "outbox") == []


def test_confirmation_email_says_how_the_address_came(
    env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    """An imported address is told it came from an import, an added one that staff added it."""
    path = tmp_path / "people.csv"
    path.write_text("email\nann@example.org\n")
    run(env, "subscribers", "import", str(path), "--list", "daily")
    run(env, "subscribers", "add", "bob@example.org", "--list", "daily")
    by_address = {
        m["To"]: " ".join(text_of(m).split()) for m in outbox_messages(data_dir / "outbox")
    }
    assert "subscriber list our team imported" in by_address["ann@example.org"]
    assert "member of our team added this address" in by_address["bob@example.org"]
    for text in by_address.values():
        assert "sign-up form" not in text


def test_lists_add_list_and_set(env: dict[str, str], data_dir: Path) -> None:
    """lists add/list/set create a list, show it (text and JSON) and switch its opt-in mode."""
    added = run(
        env,
        "subscribers",
        "lists",
        "add",
        "daily-sport",
        "--publication",
        "daily",
        "--name",
        "Sport",
        "--single-opt-in",
    )
    assert added.exit_code == 0, added.output
    assert "List daily-sport added to daily (single opt-in)." in added.output
    shown = run(env, "subscribers", "lists", "list")
    assert (
        "daily  The Daily Briefing (publication daily, double opt-in): 0 confirmed, 0 pending"
        in shown.output
    )
    assert "daily-sport  Sport (publication daily, single opt-in)" in shown.output
    joined = run(env, "subscribers", "add", "ann@example.org", "--list", "daily-sport")
    assert joined.output.strip() == "ann@example.org: confirmed"
    # Single opt-in: no confirmation email, only the welcome.
    [welcome] = outbox_messages(data_dir / "outbox")
    assert welcome["Subject"] == "Welcome to Sport"
    switched = run(env, "subscribers", "lists", "set", "daily-sport", "--double-opt-in")
    assert "List daily-sport is now double opt-in." in switched.output
    data = json.loads(run(env, "subscribers", "lists", "list", "--json").output)
    assert data == [
        {
            "slug": "daily",
            "name": "The Daily Briefing",
            "publication": "daily",
            "double_opt_in": True,
            "confirmed": 0,
            "pending": 0,
        },
        {
            "slug": "daily-sport",
            "name": "Sport",
            "publication": "daily",
            "double_opt_in": True,
            "confirmed": 1,
            "pending": 0,
        },
    ]
    assert (
        "List daily is now single opt-in."
        in run(env, "subscribers", "lists", "set", "daily", "--single-opt-in").output
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "x", "--publication", "nope", "--name", "X"], "--publication: no publication"),
        (["add", "Bad Slug", "--publication", "daily", "--name", "X"], "slug: 'Bad Slug' must be"),
        (["add", "daily", "--publication", "daily", "--name", "X"], "already exists"),
        (["add", "extra", "--publication", "daily", "--name", "  "], "--name: between 1"),
        (["set", "nope", "--single-opt-in"], "no mailing list or publication"),
        (["set", "daily"], "--single-opt-in or --double-opt-in"),
    ],
)
def test_lists_errors_are_one_line_exit_2(
    env: dict[str, str], args: list[str], message: str
) -> None:
    """Bad lists commands print one clear line and exit 2."""
    result = run(env, "subscribers", "lists", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_confirmed_import_reports_confirmed_pending_sign_ups(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A confirmed import says how many pending sign-ups it would confirm, then confirms them."""
    run(env, "subscribers", "add", "bo@example.org", "--list", "daily")
    path = tmp_path / "people.csv"
    path.write_text("email\nbo@example.org\n")
    args = ["subscribers", "import", str(path), "--list", "daily", "--confirmed", "--consent", "x"]
    dry = run(env, *args, "--dry-run")
    assert "1 pending sign-ups would be confirmed, 0 refused." in dry.output
    done = run(env, *args)
    assert done.exit_code == 0
    assert "0 imported into daily (0 new subscribers), 1 pending sign-ups confirmed" in done.output
    assert "daily: confirmed" in run(env, "subscribers", "show", "bo@example.org").output


def test_show_names_each_kind_of_mail(env: dict[str, str], database: Database) -> None:
    """``subscribers add --alerts --alert-topic`` opts in; ``show`` says what the reader gets."""
    refused = run(
        env, "subscribers", "add", "bo@example.org", "--list", "daily", "--alert-topic", "Science"
    )
    assert refused.exit_code == 2
    assert "--alert-topic is only for a reader who gets --alerts" in refused.stderr
    added = run(
        env,
        *("subscribers", "add", "bo@example.org", "--list", "daily", "--confirmed"),
        *("--consent", "Asked at the desk", "--alerts", "--alert-topic", "science"),
    )
    assert added.exit_code == 0, added.output
    shown = run(env, "subscribers", "show", "bo@example.org").output
    assert "digest: every edition, all topics" in shown
    assert "alerts: on, Science" in shown
    with database.session() as session:
        subscription = session.scalars(select(Subscription)).one()
        subscription.digests = False
    assert "digest: off" in run(env, "subscribers", "show", "bo@example.org").output


def test_stored_control_characters_never_reach_the_terminal(
    env: dict[str, str], database: Database
) -> None:
    """A name stored before names were checked is shown with its escapes as codes by show,
    show --json and export (issue 17 B6)."""
    run(
        env,
        "subscribers",
        "add",
        "eve@example.org",
        "--list",
        "daily",
        "--confirmed",
        "--consent",
        "x",
    )
    with database.session() as session:
        services.get_subscriber(session, "eve@example.org").name = "Eve\x1b]0;owned\x07\u202e"
    shown = run(env, "subscribers", "show", "eve@example.org").output
    assert "Eve\\x1b]0;owned\\x07\\u202e" in shown
    as_json = run(env, "subscribers", "show", "eve@example.org", "--json").output
    assert json.loads(as_json)["subscriber"]["name"] == "Eve\x1b]0;owned\x07\u202e"
    exported = run(env, "subscribers", "export", "--list", "daily").output
    for output in (shown, as_json, exported):
        for char in "\x1b\x07\u202e":
            assert char not in output


def test_welcome_sends_owed_welcomes_once(
    env: dict[str, str], database: Database, data_dir: Path
) -> None:
    """A confirmation whose welcome never left (its process died) is welcomed by the command,
    once; an imported reader is not."""
    with database.session() as session:
        request = services.SignupRequest(
            email="owed@example.org",
            list_slug="daily",
            evidence=Evidence(ConsentSource.WEB),
            skip_opt_in=True,
        )
        services.sign_up(session, request, confirmer=NoConfirm())  # no welcomer: owed
    people = data_dir / "people.csv"
    people.write_text("email\nimported@example.org\n")
    imported = run(
        env,
        "subscribers",
        "import",
        str(people),
        "--list",
        "daily",
        "--confirmed",
        "--consent",
        "Form",
    )
    assert imported.exit_code == 0, imported.output
    assert run(env, "subscribers", "welcome").output.strip() == "1 welcome email(s) sent."
    [welcome] = outbox_messages(data_dir / "outbox")
    assert (welcome["To"], welcome["Subject"]) == (
        "owed@example.org",
        "Welcome to The Daily Briefing",
    )
    assert run(env, "subscribers", "welcome").output.strip() == "0 welcome email(s) sent."
