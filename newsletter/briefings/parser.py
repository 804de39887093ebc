"""Turn briefing files into :class:`~newsletter.content.briefing.BriefingContent`.

Two forms are read: the newsroom's plain text (``textform``) and a structured JSON form
(``jsonform``, whose JSON Schema ``briefing_json_schema()`` returns). Whatever the input,
these functions either return a validated briefing or raise ``InvalidInputError`` whose
message starts with ``"{filename}:{line}: "`` (text) or ``"{filename}: {json path}: "``
(JSON) and says what was expected; nothing else escapes them.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.briefings import derive
from newsletter.briefings.derive import slugify
from newsletter.briefings.jsonform import briefing_json_schema, parse_json
from newsletter.briefings.textform import parse_text
from newsletter.content.briefing import BriefingContent
from newsletter.errors import InvalidInputError
from newsletter.files import open_input
from newsletter.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "briefing_json_schema",
    "parse_bytes",
    "parse_file",
    "parse_json",
    "parse_text",
    "slugify",
]


def parse_bytes(data: bytes, *, filename: str, limits: Limits = DEFAULT_LIMITS) -> BriefingContent:
    """Decode UTF-8 (a BOM is fine) and parse as JSON or plain text, within ``limits``.

    JSON is chosen when the file name ends with ``.json`` or the first non-space
    character is ``{``; anything else is read as plain text.
    """
    derive.check_size(len(data), filename, limits)
    is_json = filename.lower().endswith(".json")
    text = derive.decode(
        data,
        (lambda line: f"{filename}: $: line {line}")
        if is_json
        else (lambda line: f"{filename}:{line}"),
    )
    if is_json or text.removeprefix("\ufeff").lstrip().startswith("{"):
        return parse_json(text, filename=filename, limits=limits)
    return parse_text(text, filename=filename, limits=limits)


def parse_file(path: Path, *, limits: Limits = DEFAULT_LIMITS) -> BriefingContent:
    """Read and parse one briefing file; an unreadable file is an ``InvalidInputError``.

    Never more than ``limits.briefing_bytes`` (and one byte) is read: a larger file is
    refused without being loaded.
    """
    try:
        with open_input(path) as stream:  # a regular file only: a FIFO would hang
            data = stream.read(limits.briefing_bytes + 1)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    return parse_bytes(data, filename=str(path), limits=limits)
