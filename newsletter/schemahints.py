"""The input rules as JSON Schema, so the OpenAPI document states what the server checks.

A client (or schemathesis) that sends only what the document allows must be accepted,
so every rule that JSON Schema can state is stated, from the same constants the
validators use: the stored-text rule of ``newsletter.textrules`` as a ``pattern``, the
address form as a ``pattern`` and ``maxLength``, time zones, language tags and day
names as enums.
``Keywords(...)`` adds keywords to a pydantic type's schema, inside ``X | None`` too;
the validation itself stays with the validators (whose messages name the character or
the field), the keywords only describe it.

The address pattern is the part of the address rule a pattern can state exactly: an
ASCII dot-atom local part of 1 to 64 characters, a domain of letters, digits and
single hyphens with a top-level domain of letters that is not a special-use name
(``.test``, ``.local`` ...). Addresses outside it that the server also takes (quoted
local parts, internationalised domains) exist, but the document promises only these.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from babel import localedata
from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from newsletter.parsing import TIME_PATTERN, WEEKDAYS
from newsletter.textrules import BAD_CHARACTER, BAD_IN_LINE

# email-validator refuses these top-level domains (its SPECIAL_USE_DOMAIN_NAMES).
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
_ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = "[A-Za-z0-9]{1,20}(?:-[A-Za-z0-9]{1,20})?"
_ADDRESS = (
    rf"{_ATEXT}{{1,16}}(?:\.{_ATEXT}{{1,15}}){{0,3}}"  # at most 64 characters
    rf"@(?:{_LABEL}\.){{1,4}}(?!(?:{'|'.join(_SPECIAL_USE)})$)[A-Za-z]{{2,20}}"
)
ADDRESS_PATTERN = f"^{_ADDRESS}$"
MAX_ADDRESS = 254  # email-validator's limit on a whole address
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,40}[A-Za-z0-9])?"
_HOST = rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*"


def _escaped(character_class: str) -> str:
    """A regex character class with its control characters written as ``\\uXXXX``."""
    return "".join(
        char if char.isprintable() and not 0xD800 <= ord(char) <= 0xDFFF else f"\\u{ord(char):04x}"
        for char in character_class
    )


def _allowed(rule: re.Pattern[str]) -> str:
    """The characters a rule of ``textrules`` lets through, as a negated class.

    Lone surrogates (U+D800 to U+DFFF) are left out of the class: they are no characters
    (I-JSON, RFC 7493, forbids them in JSON text) and a pattern naming them is not one
    that common validators compile (schemathesis drops it). The server refuses them.
    """
    return "[^" + _escaped(rule.pattern[1:-1].replace("\ud800-\udfff", "")) + "]"


_TEXT = _allowed(BAD_CHARACTER)
_LINE = _allowed(BAD_IN_LINE)
TEXT_PATTERN = f"^{_TEXT}*$"
LINE_PATTERN = f"^{_LINE}*$"
# Text that is stripped and must then not be empty: a character other than white space.
FILLED_TEXT_PATTERN = f"^{_TEXT}*{_TEXT[:-1]}\\s]{_TEXT}*$"
FILLED_LINE_PATTERN = f"^{_LINE}*{_LINE[:-1]}\\s]{_LINE}*$"
_PATH = f"{_LINE[:-1]}\\s]*"
_URL = rf"https?://{_HOST}(?::[0-9]{{1,4}})?(?:/{_PATH})?"
URL_PATTERN = f"^{_URL}$"


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA time-zone name this machine knows, sorted."""
    return tuple(sorted(available_timezones()))


class Keywords:
    """JSON Schema keywords added to a type's schema (``Annotated[str, Keywords(...)]``).

    A keyword given as ``None`` is removed (``format=None``).
    """

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.keywords)
        return {key: value for key, value in schema.items() if value is not None}


def text(*, one_line: bool = False, filled: bool = False) -> Keywords:
    """Stored text: no control characters (and no line breaks when ``one_line``).

    ``filled``: the field is stripped and may not then be empty.
    """
    patterns = {
        (False, False): TEXT_PATTERN,
        (True, False): LINE_PATTERN,
        (False, True): FILLED_TEXT_PATTERN,
        (True, True): FILLED_LINE_PATTERN,
    }
    return Keywords(pattern=patterns[one_line, filled])


ADDRESS = Keywords(pattern=ADDRESS_PATTERN, maxLength=MAX_ADDRESS, format="email")
ADDRESS_OR_BLANK = Keywords(pattern=f"^(?:{_ADDRESS})?$", maxLength=MAX_ADDRESS)
URL = Keywords(pattern=URL_PATTERN)
URL_OR_BLANK = Keywords(pattern=f"^(?:{_URL})?$")
DAY = Keywords(enum=list(WEEKDAYS))
DAYS = Keywords(items={"enum": list(WEEKDAYS)})
TIME = Keywords(pattern=TIME_PATTERN, format=None)
# A local date and time whose date exists (a 29 February only in a leap year is left
# out: the pattern offers the 1st to the 28th of February).
_MONTH_DAY = (
    "(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    "|(?:0[13578]|1[02])-31)"
)
LOCAL = Keywords(
    pattern=f"^[1-9][0-9]{{3}}-{_MONTH_DAY}[ T](?:[01][0-9]|2[0-3]):[0-5][0-9](?::00)?$"
)


@cache
def language_tags() -> tuple[str, ...]:
    """Every language tag CLDR knows, as ``i18n.check_language`` writes it, sorted."""
    return tuple(sorted(tag.replace("_", "-") for tag in localedata.locale_identifiers()))


def language(*, blank: bool = False) -> Keywords:
    """A language tag CLDR knows (or ``""`` when ``blank``)."""
    return Keywords(enum=[""] * blank + list(language_tags()))


def zone(*, blank: bool = False) -> Keywords:
    """An IANA time-zone name (or ``""`` when ``blank``)."""
    return Keywords(enum=[""] * blank + list(zone_names()))
