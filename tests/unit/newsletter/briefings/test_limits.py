"""Briefing size limits: bytes per briefing and per paragraph, topics, files per import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.briefings import parser
from newsletter.briefings.cli import collect_files
from newsletter.errors import InvalidInputError
from newsletter.limits import DEFAULT_LIMITS, Limits
from tests.cli import run

SMALL = Limits(briefing_bytes=4096, paragraph_bytes=200, briefing_topics=2, folder_files=2)


def _text(lede: str = "A short lede.", topics: int = 1) -> str:
    names = ", ".join(f"Topic {n}" for n in range(topics))
    described = "".join(f"-\nTopic {n} is a subject.\n" for n in range(topics))
    return (
        f"Title: Limits\nTopics: {names}\n\nWhat's happened\n{lede}\n"
        f"More on these topics\n{described}"
    )


def _json(lede: str = "A short lede.", topics: int = 1) -> str:
    return json.dumps(
        {
            "title": "Limits",
            "lede": [lede],
            "topics": [{"name": f"Topic {n}"} for n in range(topics)],
        }
    )


def test_a_100k_character_lede_is_refused_by_default() -> None:
    """The issue's 100k-character lede (a 157 KB email) no longer imports."""
    lede = "Word " * 20_000 + "end."
    with pytest.raises(InvalidInputError) as caught:
        parser.parse_text(_text(lede), filename="big.txt")
    assert str(caught.value) == (
        "big.txt:5: lede[0]: the paragraph has 100,004 bytes; at most 20,000 "
        "(NEWSLETTER_MAX_PARAGRAPH_BYTES)"
    )
    with pytest.raises(InvalidInputError, match=r"^big.json: \$.lede\[0\]: the paragraph has"):
        parser.parse_json(_json(lede), filename="big.json")


@pytest.mark.parametrize("form", [_text, _json])
def test_a_paragraph_counts_bytes_not_characters(form: object) -> None:
    """70 three-byte characters pass 200 characters but not 200 bytes."""
    assert callable(form)
    lede = "€" * 70 + "."
    with pytest.raises(InvalidInputError, match="211 bytes; at most 200"):
        parser.parse_bytes(form(lede).encode(), filename="euro.txt", limits=SMALL)
    parser.parse_bytes(form("€" * 60 + ".").encode(), filename="euro.txt", limits=SMALL)


@pytest.mark.parametrize(
    ("form", "where"), [(_text, "t.txt:2: topics"), (_json, r"t.txt: \$.topics")]
)
def test_too_many_topics_are_refused(form: object, where: str) -> None:
    """The issue's 500 topics (about 1,500 feed files) are refused; the limit itself passes."""
    assert callable(form)
    parser.parse_bytes(form(topics=2).encode(), filename="t.txt", limits=SMALL)
    with pytest.raises(
        InvalidInputError, match=f"^{where}: 3 topics; a briefing may list at most 2"
    ):
        parser.parse_bytes(form(topics=3).encode(), filename="t.txt", limits=SMALL)
    with pytest.raises(InvalidInputError, match=r"500 topics; .* at most 25 "):
        parser.parse_bytes(form(topics=500).encode(), filename="t.txt", limits=DEFAULT_LIMITS)


def test_a_large_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    """A file over the limit is read only up to the limit, then refused naming the setting."""
    path = tmp_path / "huge.txt"
    path.write_text(_text("Filler. " * 1000))
    with pytest.raises(InvalidInputError) as caught:
        parser.parse_file(path, limits=SMALL)
    assert str(caught.value) == (
        f"{path}: 4,097 bytes or more; a briefing may have at most 4,096 bytes "
        "(NEWSLETTER_MAX_BRIEFING_BYTES)"
    )


@pytest.mark.parametrize("form", ["text", "json"])
def test_bodies_over_the_limit_are_refused_by_both_parsers(form: str) -> None:
    """The API and the editor form call the parsers directly: they check the size too."""
    big = "x" * 5000
    parse = (
        (lambda: parser.parse_text(big, filename="body", limits=SMALL))
        if form == "text"
        else (lambda: parser.parse_json(json.dumps({"lede": [big]}), filename="body", limits=SMALL))
    )
    with pytest.raises(InvalidInputError, match=r"5,0.. bytes or more; a briefing may have"):
        parse()


def test_deep_json_files_are_refused_before_parsing() -> None:
    """The JSON depth limit applies to briefing files as to request bodies."""
    deep = '{"lede": ["x"], "topics": ' + "[" * 40 + "]" * 40 + "}"
    with pytest.raises(InvalidInputError, match=r"^deep.json: \$: JSON nested 41 levels deep"):
        parser.parse_json(deep, filename="deep.json")


def test_folders_with_too_many_files_are_refused(tmp_path: Path) -> None:
    """Files are counted across every path named, before any is read."""
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.txt").write_text(_text())
    assert len(collect_files([tmp_path], max_files=3)) == 3
    with pytest.raises(InvalidInputError, match="more than 2 briefing files in one import"):
        collect_files([tmp_path], max_files=2)


def test_the_command_uses_the_settings(cli_env: dict[str, str], tmp_path: Path) -> None:
    """``briefings import`` reads the limits from NEWSLETTER_MAX_*: one line, exit 2, no import."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.txt").write_text(_text())
    env = {**cli_env, "NEWSLETTER_MAX_FOLDER_FILES": "1"}
    result = run(env, "briefings", "import", str(folder))
    assert result.exit_code == 2
    assert "(NEWSLETTER_MAX_FOLDER_FILES)" in result.stderr
    assert "Traceback" not in result.output
    (folder / "b.txt").unlink()
    env = {**cli_env, "NEWSLETTER_MAX_PARAGRAPH_BYTES": "100"}
    (folder / "a.txt").write_text(_text("Long " * 30 + "lede."))
    result = run(env, "briefings", "import", str(folder))
    assert result.exit_code == 2
    assert "lede[0]: the paragraph has 155 bytes; at most 100" in result.stderr
    assert "nothing was imported" in result.stderr
