"""The JSON Schema statements of the input rules promise nothing the validators refuse.

Each pattern or enum of ``newsletter.schemahints`` is drawn from and every value fed to
the validator it describes: a value the OpenAPI document allows is one the server
takes (schemathesis' ``positive_data_acceptance`` relies on it).
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter import schemahints as h
from newsletter.editors.services import NAME_PATTERN, clean_name
from newsletter.i18n import check_language
from newsletter.parsing import read_local, read_zone
from newsletter.publications.spec import _email, _http_url
from newsletter.textrules import bad_character
from subscribers.addresses import normalise_email


def drawn(pattern: str) -> st.SearchStrategy[str]:
    """Strings matching a schema ``pattern`` as a JSON Schema validator reads it."""
    return st.from_regex(pattern, fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(drawn(h.ADDRESS_PATTERN))
def test_an_address_the_schema_allows_is_accepted(address: str) -> None:
    assert len(address) <= h.MAX_ADDRESS
    assert normalise_email(address) == address.lower()  # sign-ups, imports
    assert _email(address)  # a publication's from_email / reply_to


def test_the_address_pattern_keeps_the_rules_a_pattern_can_state() -> None:
    address = re.compile(h.ADDRESS_PATTERN)
    assert address.match("reader@example.org")
    assert address.match("a.b+tag@news-room.co.uk")
    assert not address.match("x" * 65 + "@example.org")  # issue 17's B10: 64 at most
    assert not address.match("reader@example.test")  # special-use domains
    assert not address.match("reader@localhost")
    assert not address.match("read..er@example.org")
    assert not address.match("reader@ex--ample.org")


@settings(max_examples=200, deadline=None)
@given(drawn(h.FILLED_TEXT_PATTERN), drawn(h.FILLED_LINE_PATTERN))
def test_text_the_schema_allows_is_stored(text: str, line: str) -> None:
    assert bad_character(text) is None
    assert text.strip()
    assert bad_character(line, one_line=True) is None
    assert line.strip()


@settings(max_examples=200, deadline=None)
@given(drawn(h.URL_PATTERN), drawn(h.LOCAL.keywords["pattern"]))
def test_urls_and_local_times_the_schema_allows_are_read(url: str, local: str) -> None:
    assert _http_url(url) == url
    assert read_local(local) is not None  # a date that exists


@settings(max_examples=100, deadline=None)
@given(drawn(NAME_PATTERN))
def test_editor_names_the_schema_allows_are_accepted(name: str) -> None:
    assert clean_name(name) == name


def test_every_enum_value_is_accepted() -> None:
    assert all(read_zone(name) is not None for name in h.zone_names())
    assert all(check_language(tag) == tag for tag in h.language_tags())
    assert "Europe/London" in h.zone_names()
    assert "pt-BR" in h.language_tags()
