"""The languages a publication offers: spec rules, TOML, CLI, and which one a reader gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from newsletter.errors import InvalidInputError
from newsletter.publications.models import Publication, pick_language
from newsletter.publications.spec import PublicationSpec, validate_spec
from tests.cli import run, run_json
from tests.factories import publication_values
from tests.unit.newsletter.publications.test_personal_settings import ADD


def _spec(**overrides: Any) -> PublicationSpec:
    return validate_spec(publication_values(**overrides), where="test")


def _error(label: Any = str, **overrides: Any) -> str:
    with pytest.raises(InvalidInputError) as caught:
        validate_spec(publication_values(**overrides), where="test", label=label)
    return str(caught.value)


def test_a_publication_offers_its_default_language_unless_told_more() -> None:
    """No ``languages``: just the default; tags come back canonical, once each, the default
    first, and added when the list lacks it (always offered, never a refusal)."""
    assert _spec().languages == ("en",)
    assert _spec(language="de").languages == ("de",)
    offered = _spec(language="de", languages=["EN", "de", "pt_br", "en"])
    assert offered.language == "de"
    assert offered.languages == ("de", "en", "pt-BR")
    assert _spec(language="ko", languages=["en", "fr"]).languages == ("ko", "en", "fr")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"languages": ["en", "xx"]}, "test: languages[1]: unknown language tag 'xx'"),
        ({"languages": ["en", 5]}, "test: languages[1]: unknown language tag 5"),
        ({"languages": "en,de"}, "test: languages: expected a list of language tags"),
        ({"language": "klingon"}, "test: language: unknown language tag 'klingon'"),
        ({"language": "zz"}, "test: language: unknown language tag 'zz'"),
    ],
)
def test_an_unknown_tag_or_a_missing_default_is_refused_naming_the_field(
    overrides: dict[str, Any], expected: str
) -> None:
    """Each refusal names the field (and the item), as CLDR knows the tags."""
    assert _error(**overrides).startswith(expected)


def test_toml_names_the_key_and_the_item(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """``publications load`` refuses a bad tag naming the key, and changes nothing."""
    good = tmp_path / "good.toml"
    good.write_text(
        '[[publication]]\nslug = "morning"\nname = "Morning"\nfrom_email = "m@example.org"\n'
        'base_url = "https://m.example.org"\npostal_address = "1 Road"\n'
        'language = "de"\nlanguages = ["de", "en"]\n',
        encoding="utf-8",
    )
    assert run(cli_env, "publications", "load", str(good)).exit_code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(
        good.read_text(encoding="utf-8").replace('["de", "en"]', '["de", "xx"]'), encoding="utf-8"
    )
    refused = run(cli_env, "publications", "load", str(bad))
    assert refused.exit_code == 2
    assert "key 'languages'[1]: unknown language tag 'xx'" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    shown = run_json(cli_env, "publications", "show", "morning")
    assert (shown["language"], shown["languages"]) == ("de", ["de", "en"])


def test_cli_add_and_edit_languages(cli_env: dict[str, str]) -> None:
    """``--languages`` sets the offer; a bad tag is refused naming the option, nothing kept."""
    assert run(cli_env, *ADD, "--languages", "en, de").exit_code == 0
    assert run_json(cli_env, "publications", "show", "evening")["languages"] == ["en", "de"]
    refused = run(cli_env, "publications", "edit", "evening", "--languages", "en,de,xx")
    assert refused.exit_code == 2
    assert "--languages[2]: unknown language tag 'xx'" in refused.stderr
    assert run(cli_env, "publications", "edit", "evening", "--languages", "de,fr").exit_code == 0
    assert run_json(cli_env, "publications", "show", "evening")["languages"] == ["en", "de", "fr"]
    # A new default alone takes the old one's place; the others stay offered.
    assert run(cli_env, "publications", "edit", "evening", "--language", "fr").exit_code == 0
    shown = run_json(cli_env, "publications", "show", "evening")
    assert (shown["language"], shown["languages"]) == ("fr", ["fr", "de"])
    assert run(cli_env, "publications", "edit", "evening", "--language", "en").exit_code == 0
    assert run(cli_env, "publications", "edit", "evening", "--languages", "none").exit_code == 0
    shown = run_json(cli_env, "publications", "show", "evening")
    assert (shown["language"], shown["languages"]) == ("en", ["en"])


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("", "de"),  # never chose: the default
        ("en", "en"),
        ("EN", "en"),
        ("fr", "de"),  # not offered: the default
        ("en-GB", "en"),  # its base language is offered
        ("pt-BR", "pt-BR"),
        ("pt-PT", "pt"),
        ("ar", "de"),
    ],
)
def test_which_language_a_reader_gets(locale: str, expected: str) -> None:
    """Their locale if offered, else its base language if offered, else the default."""
    assert pick_language(locale, ("de", "en", "pt-BR", "pt")) == expected


def test_a_stored_publication_without_languages_offers_its_own() -> None:
    """A row from before the languages column (empty list) offers just its language."""
    publication = Publication(language="ko", languages=[])
    assert publication.offered_languages() == ("ko",)
    assert publication.language_for("de") == "ko"
    both = Publication(language="ko", languages=["en", "ko"])
    assert both.offered_languages() == ("ko", "en")
    assert both.language_for("en-US") == "en"
