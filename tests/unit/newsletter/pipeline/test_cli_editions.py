"""The ``newsletter digest`` commands, run as an editor runs them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from newsletter.db import Database
from newsletter.errors import InvalidInputError
from newsletter.pipeline.cli import parse_date
from tests.cli import run, run_json
from tests.factories import make_briefing, make_briefings, make_publication
from tests.websubhub import running_hub


@pytest.fixture
def morning(database: Database) -> None:
    """The CLI's database holds publication 'morning' (cap 2) and three approved briefings."""
    with database.session() as session:
        make_publication(session, max_briefings=2)
        make_briefings(session, 3, title="Bridges & <tunnels>")


def test_assemble_prints_a_summary_and_is_idempotent(
    cli_env: dict[str, str], morning: None
) -> None:
    """``assemble`` reports state, briefings and roll-over; running it again finds the same."""
    args = ("digest", "assemble", "--publication", "morning", "--date", "2026-03-02")
    first = run(cli_env, *args)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == (
        "Assembled morning 2026-03-02: assembled, 2 briefing(s), 1 rolled over to the next edition."
    )
    second = run(cli_env, *args)
    assert second.stdout.startswith("Already assembled morning 2026-03-02: assembled")


def test_assemble_defaults_to_today(cli_env: dict[str, str], morning: None) -> None:
    """Without --date the edition is today's in the publication's zone."""
    result = run(cli_env, "digest", "assemble", "--publication", "morning")
    assert result.exit_code == 0, result.output
    [row] = run_json(cli_env, "digest", "list", "--publication", "morning")
    assert row["edition_date"] == datetime.now(UTC).date().isoformat()


def test_assemble_empty_edition_is_skipped(cli_env: dict[str, str], database: Database) -> None:
    """With nothing approved the edition is recorded as skipped, with the reason."""
    with database.session() as session:
        make_publication(session)
    result = run(cli_env, "digest", "assemble", "--publication", "morning", "--date", "2026-03-02")
    assert result.exit_code == 0, result.output
    assert "skipped (no approved briefings)" in result.stdout
    [row] = run_json(cli_env, "digest", "list", "--publication", "morning")
    assert (row["state"], row["skip_reason"], row["briefings"]) == (
        "skipped",
        "no approved briefings",
        0,
    )


@pytest.mark.parametrize("command", ["assemble", "preview", "list"])
def test_unknown_publication_is_one_line_exit_2(
    cli_env: dict[str, str], tmp_path: Path, command: str
) -> None:
    """An unknown publication gives one clear line and exit code 2."""
    extra = ["--out", str(tmp_path / "out")] if command == "preview" else []
    result = run(cli_env, "digest", command, "--publication", "nope", *extra)
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: unknown publication 'nope'"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", ["tomorrow", "2026-02-30", "20260302", "2026-3-2"])
def test_bad_date_is_one_line_exit_2(cli_env: dict[str, str], morning: None, bad: str) -> None:
    """A date that is not a YYYY-MM-DD date gives one line naming --date, exit code 2."""
    result = run(cli_env, "digest", "assemble", "--publication", "morning", "--date", bad)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: --date: {bad!r} is not a date (expected YYYY-MM-DD)")
    assert run_json(cli_env, "digest", "list", "--publication", "morning") == []


def test_parse_date_accepts_iso_dates_and_none() -> None:
    """``--date`` parses YYYY-MM-DD; absent means the default."""
    assert parse_date("2026-03-02") == date(2026, 3, 2)
    assert parse_date(None) is None
    with pytest.raises(InvalidInputError):
        parse_date("2026-13-01")


def test_preview_writes_the_four_files(
    cli_env: dict[str, str], morning: None, tmp_path: Path
) -> None:
    """``preview`` assembles, renders and writes email.html, email.txt, web.html, index.html."""
    out = tmp_path / "preview"
    args = ("digest", "preview", "--publication", "morning", "--date", "2026-03-02")
    result = run(cli_env, *args, "--out", str(out))
    assert result.exit_code == 0, result.output
    names = ["email.html", "email.txt", "web.html", "index.html"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for name in names:
        path = out / name
        assert f"{path}  {path.stat().st_size:,} bytes" in result.stdout
    assert "Bridges &amp; &lt;tunnels&gt;" in (out / "email.html").read_text()
    assert "Bridges & <tunnels>" in (out / "email.txt").read_text()
    assert "Bridges &amp; &lt;tunnels&gt;" in (out / "web.html").read_text()
    assert "/p/morning/2026-03-02/" in (out / "index.html").read_text()
    assert "Nothing was stored" in result.stdout
    assert run_json(cli_env, "digest", "list", "--publication", "morning") == []


def test_preview_of_an_assembled_edition_renders_it(
    cli_env: dict[str, str], morning: None, tmp_path: Path
) -> None:
    """Once assembled, previewing renders the frozen edition and keeps the render."""
    out = tmp_path / "preview"
    day = ("--publication", "morning", "--date", "2026-03-02")
    run(cli_env, "digest", "assemble", *day)
    result = run(cli_env, "digest", "preview", *day, "--out", str(out))
    assert "Already assembled" in result.stdout
    [row] = run_json(cli_env, "digest", "list", "--publication", "morning")
    assert row["state"] == "rendered"
    assert row["html_bytes"] == len((out / "email.html").read_bytes())


def test_preview_does_not_freeze_the_edition(
    cli_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    """A briefing approved after a preview still joins the edition when it is assembled."""
    with database.session() as session:
        make_publication(session)
        make_briefing(session, slug="early", title="Early story")
    day = ("--publication", "morning", "--date", "2026-03-02")
    run(cli_env, "digest", "preview", *day, "--out", str(tmp_path / "one"))
    with database.session() as session:
        make_briefing(session, slug="late", title="Late story")
    run(cli_env, "digest", "assemble", *day)
    [row] = run_json(cli_env, "digest", "list", "--publication", "morning")
    assert row["briefings"] == 2


def test_preview_of_a_skipped_edition_writes_only_the_index(
    cli_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    """A skipped edition is not rendered: only the archive index is written."""
    with database.session() as session:
        make_publication(session, topics=["Arts"])
        make_briefing(session, slug="match", topics=["Sport"])
    out = tmp_path / "preview"
    result = run(cli_env, "digest", "preview", "--publication", "morning", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "skipped (no approved briefings on this publication's topics)" in result.stdout
    assert [p.name for p in out.iterdir()] == ["index.html"]


def test_list_shows_editions_newest_first(cli_env: dict[str, str], morning: None) -> None:
    """``list`` shows each edition's date, state and size, newest first."""
    for day in ("2026-03-02", "2026-03-03", "2026-03-04"):
        run(cli_env, "digest", "assemble", "--publication", "morning", "--date", day)
    rows = run_json(cli_env, "digest", "list", "--publication", "morning")
    assert [(r["edition_date"], r["state"], r["briefings"]) for r in rows] == [
        ("2026-03-04", "skipped", 0),
        ("2026-03-03", "assembled", 1),
        ("2026-03-02", "assembled", 2),
    ]
    table = run(cli_env, "digest", "list", "--publication", "morning").stdout
    assert "2026-03-04" in table
    assert "no approved briefings" in table


def test_list_without_editions(cli_env: dict[str, str], morning: None) -> None:
    """With no editions yet, ``list`` says how to make one."""
    result = run(cli_env, "digest", "list", "--publication", "morning")
    assert "No editions of morning yet" in result.stdout


def test_preview_defaults_to_the_next_edition(
    cli_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    """Without --date, a briefing approved just now is previewed in the next edition."""
    with database.session() as session:
        make_publication(session, weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
        make_briefing(session, slug="fresh", title="Fresh news", approved_at=datetime.now(UTC))
    out = tmp_path / "preview"
    result = run(cli_env, "digest", "preview", "--publication", "morning", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert ": rendered, 1 briefing(s)" in result.stdout
    assert "Fresh news" in (out / "email.txt").read_text()


def public_files(data_dir: Path) -> dict[str, bytes]:
    """Every file of the static export, by path."""
    public = data_dir / "public"
    return {str(p.relative_to(public)): p.read_bytes() for p in public.rglob("*") if p.is_file()}


def test_publish_without_email_exports_and_pings_the_hub(
    cli_env: dict[str, str], morning: None, data_dir: Path
) -> None:
    """``publish`` makes the edition public, writes the static export and tells the hub."""
    with running_hub() as hub:
        env = {**cli_env, "NEWSLETTER_WEBSUB_HUB_URL": hub.url}
        day = ("--publication", "morning", "--date", "2026-03-02")
        result = run(env, "digest", "publish", *day)
        assert result.exit_code == 0, result.output
        assert "/p/morning/2026-03-02/" in result.stdout
        files = public_files(data_dir)
        assert "p/morning/2026-03-02/index.html" in files
        assert b"Bridges" in files["p/morning/feeds/briefings/atom.xml"]
        assert "index.html" in files  # the home page shows the latest edition
        assert f"morning: exported {len(files)} files to" in result.stdout
        [ping] = hub.pings
        assert ping["hub.mode"] == ["publish"]
        assert any(url.endswith("/p/morning/feeds/briefings/atom.xml") for url in ping["hub.url"])
        assert f"told the WebSub hub {hub.url} about {len(ping['hub.url'])} feeds" in result.stdout
        [row] = run_json(env, "digest", "list", "--publication", "morning")
        assert row["state"] == "published"
        # Again: still published, and the export and the hub are refreshed once more.
        assert run(env, "digest", "publish", *day).exit_code == 0
        assert len(hub.pings) == 2
    [row] = run_json(env, "digest", "list", "--publication", "morning")
    assert row["state"] == "published"


def test_publish_with_the_hub_down_still_publishes_and_retries_later(
    cli_env: dict[str, str], morning: None, data_dir: Path
) -> None:
    """An unreachable hub is reported with the retry time; the change waits in the database."""
    env = {**cli_env, "NEWSLETTER_WEBSUB_HUB_URL": "http://127.0.0.1:9/hub"}
    result = run(env, "digest", "publish", "--publication", "morning", "--date", "2026-03-02")
    assert result.exit_code == 0
    assert "WebSub hub not told" in result.stdout
    assert "will retry at" in result.stdout
    assert "p/morning/2026-03-02/index.html" in public_files(data_dir)
    [row] = run_json(env, "digest", "list", "--publication", "morning")
    assert row["state"] == "published"
    table = run(env, "publishing", "status").stdout
    assert "morning" in table
    assert "pending" in table
    assert "refused" in table  # the error, wrapped in a narrow table
    [change] = run_json(env, "publishing", "status")
    assert (change["state"], change["attempts"], change["exported"]) == ("pending", 1, True)
    assert "unreachable" in change["last_error"]
    with running_hub() as hub:
        env = {**cli_env, "NEWSLETTER_WEBSUB_HUB_URL": hub.url}
        flushed = run(env, "publishing", "flush", "--now")
        assert flushed.exit_code == 0, flushed.output
        assert "told the WebSub hub" in flushed.stdout
        assert "morning: exported" not in flushed.stdout  # the export was already done
        assert len(hub.pings) == 1
    assert run_json(env, "publishing", "status") == []
    assert "No public change is pending" in run(env, "publishing", "status").stdout
    assert "Nothing to publish" in run(env, "publishing", "flush").stdout


def test_publish_of_a_skipped_edition_is_refused(
    cli_env: dict[str, str], database: Database
) -> None:
    """An edition with nothing in it cannot be published: one line, exit 2."""
    with database.session() as session:
        make_publication(session)
    result = run(cli_env, "digest", "publish", "--publication", "morning", "--date", "2026-03-02")
    assert result.exit_code == 2
    assert "there is nothing to publish" in result.stderr
