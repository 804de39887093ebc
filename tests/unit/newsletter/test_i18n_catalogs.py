"""The shipped catalogs are complete, current and compiled.

A string marked in a template or in code but missing from ``<domain>.pot`` (nobody ran
``make i18n-extract``), a language whose ``.po`` lacks it or leaves it empty or fuzzy,
a translation that drops a placeholder, or a ``.mo`` older than its ``.po``: each fails
here, naming the file and the string.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from newsletter import i18n

ROOT = Path(__file__).resolve().parents[3]
LOCALES = ROOT / "newsletter" / "locale"
TRANSLATED = [language for language in i18n.SHIPPED if language != i18n.DEFAULT_LANGUAGE]
# %(name)s, %s and {name}: what a translation must keep.
PLACEHOLDER = re.compile(r"%\([A-Za-z_]+\)[sd]|%[sd]|\{[A-Za-z_]*\}")


def _keywords() -> list[str]:
    """The extraction keywords, read from the Makefile so the two cannot drift."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    line = next(row for row in makefile.splitlines() if row.startswith("KEYWORDS :="))
    return line.split(":=", 1)[1].split()


def _read_po(path: Path) -> Catalog:
    with path.open("rb") as stream:
        return read_po(stream)


def _ids(catalog: Catalog) -> set[object]:
    return {message.id for message in catalog if message.id}


@pytest.fixture(scope="module", params=i18n.DOMAINS)
def extracted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The domain's strings as the sources mark them now."""
    domain: str = request.param
    out = tmp_path_factory.mktemp("pot") / f"{domain}.pot"
    command = [
        "pybabel",
        "-q",
        "extract",
        "-F",
        str(LOCALES / f"{domain}.cfg"),
        *_keywords(),
        "--omit-header",
        "-o",
        str(out),
        str(ROOT),
    ]
    assert CommandLineInterface().run(command) in (0, None)
    catalog = _read_po(out)
    catalog.domain = domain
    return catalog


def test_templates_hold_every_marked_string(extracted: Catalog) -> None:
    committed = _read_po(LOCALES / f"{extracted.domain}.pot")
    missing = sorted(map(str, _ids(extracted) - _ids(committed)))
    stale = sorted(map(str, _ids(committed) - _ids(extracted)))
    assert not missing, f"{extracted.domain}.pot lacks {missing[:5]}: run `make i18n`"
    assert not stale, f"{extracted.domain}.pot still has {stale[:5]}: run `make i18n`"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_language_translates_every_string(extracted: Catalog, language: str) -> None:
    path = LOCALES / language / "LC_MESSAGES" / f"{extracted.domain}.po"
    catalog = _read_po(path)
    have = {message.id: message for message in catalog if message.id}
    problems: list[str] = []
    for wanted in extracted:
        if not wanted.id:
            continue
        message = have.get(wanted.id)
        if message is None:
            problems.append(f"missing {wanted.id!r}")
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(forms):
            problems.append(f"untranslated or fuzzy {wanted.id!r}")
            continue
        ids = wanted.id if isinstance(wanted.id, tuple) else (wanted.id,)
        expected = set(PLACEHOLDER.findall(ids[-1]))
        for form in forms:
            if set(PLACEHOLDER.findall(form)) != expected:
                problems.append(f"{wanted.id!r}: placeholders {expected} in {form!r}")
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems[:8])


@pytest.mark.parametrize("language", TRANSLATED)
@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_compiled_catalogs_match_their_sources(language: str, domain: str) -> None:
    folder = LOCALES / language / "LC_MESSAGES"
    source = _read_po(folder / f"{domain}.po")
    with (folder / f"{domain}.mo").open("rb") as stream:
        compiled = read_mo(stream)
    # A plural message's id and forms: tuples in a .po, lists in a .mo.
    want = {_plain(m.id): _plain(m.string) for m in source if m.id and not m.fuzzy}
    got = {_plain(m.id): _plain(m.string) for m in compiled if m.id}
    assert got == want, f"{folder / domain}.mo is older than its .po: run `make i18n-compile`"


def _plain(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value
