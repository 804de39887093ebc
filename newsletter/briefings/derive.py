"""What the importers work out from the text itself: slugs, titles, topic names, truncation.

Both import forms (plain text and JSON) end in :func:`complete`, so a briefing gets the
same derived title, slug, topic names and editor warnings whichever form it came in.

Topic names. The entity name is the text before the first of ``,`` `` is `` `` or ``
`` was `` `` are `` `` were `` `` (`` `` – `` `` — `` ``;`` ``:`` (whichever comes first):
"North Korea, officially ..." gives "North Korea". Encyclopaedic text writes Russian and
Ukrainian names with the patronymic ("Vladimir Vladimirovich Putin") that nobody uses
in a tag, so a middle word ending like a patronymic (-ovich, -evich, -ovych, -ovna,
-ivna ...) is dropped: "Vladimir Putin". Other long names are kept whole, because a
"first and last word" rule would turn "New York City" into "New City". When no
separator comes within the first eight words the name is a guess (the first four
words) and the editor is warned (``DERIVED_TOPICS``).
"""

from __future__ import annotations

import codecs
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from newsletter.content.briefing import BriefingContent, ImportWarning, WarningCode
from newsletter.errors import InvalidInputError
from newsletter.limits import DEFAULT_LIMITS, Limits

Loc = tuple[str | int, ...]

TITLE_MAX = 80  # a headline, not a paragraph: longer derived titles are cut at a word
SLUG_FROM_TITLE_MAX = 60  # short enough to read in a URL
_NAME_MAX_WORDS = 8
_GUESS_WORDS = 4

OPTIONAL_SECTIONS = {
    "behind_the_headline": "What's behind the headline?",
    "what_the_papers_say": "What the papers say",
    "how_we_got_here": "How we got here",
    "questions": "Go deeper",
    "topics": "More on these topics",
}

# A sentence ends with . ! ? or … optionally followed by closing quotes or brackets.
_TERMINAL = re.compile(r"[.!?…][\"'”’»)\]]*$")
_NAME_END = re.compile(r",| is | was | are | were | or | \(| – | — |;|:")
_PATRONYMIC = ("ovich", "evich", "ovych", "evych", "ovna", "evna", "ivna", "ichna")
# Words whose final stop does not end a sentence ("Dr. Okafor", "St. Gallen").
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "prof", "gen", "sen", "rep", "gov", "jr", "sr", "no"}
    | {"vs", "etc", "inc", "ltd", "co", "corp", "col", "lt", "sgt", "mt", "ft", "approx"}
)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*\s+")
_TRANSLITERATE = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l"}
    | {"Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "TH", "ı": "i", "&": " and "}
    # Apostrophes vanish rather than split a word: "Europe's" gives "europes".
    | {"'": "", "’": "", "ʼ": ""}
)


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends with terminal punctuation (possibly inside quotes/brackets)."""
    return _TERMINAL.search(text.rstrip()) is not None


def slugify(text: str, *, max_length: int = 120) -> str:
    """An ASCII, lowercase, hyphenated slug of ``text``; never empty."""
    if max_length < 1:
        raise InvalidInputError(f"max_length must be at least 1, got {max_length}")
    ascii_text = (
        unicodedata.normalize("NFKD", text.translate(_TRANSLITERATE))
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if not slug:
        raise InvalidInputError(
            f"cannot make a slug from {quote(text)}: it has no ASCII letters or digits"
        )
    if len(slug) > max_length:
        cut = slug[: max_length + 1]
        # Prefer ending at a word boundary; fall back to a hard cut for one long word.
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut[:max_length]
        slug = slug[:max_length].strip("-")
    return slug


def _first_sentence(paragraph: str) -> str:
    """The first sentence of a paragraph, ignoring stops after initials and abbreviations."""
    for match in _SENTENCE_END.finditer(paragraph):
        before = paragraph[: match.start() + 1]
        word = before.rsplit(None, 1)[-1]
        if re.fullmatch(r"(?:[A-Za-z]\.)+", word) or word[:-1].lower() in _ABBREVIATIONS:
            continue
        return paragraph[: match.end()].strip()
    return paragraph.strip()


def derive_title(paragraph: str) -> str:
    """A title from a lede paragraph: its first sentence, cut at a word to ≤ TITLE_MAX chars."""
    title = _first_sentence(paragraph)
    if title.endswith(".") and not title.endswith("..."):
        title = title[:-1]
    if len(title) > TITLE_MAX:
        cut = title[: TITLE_MAX - 1]
        if " " in cut:
            cut = cut.rsplit(" ", 1)[0]
        title = cut.rstrip(" ,;:–—-") + "…"
    return title


def topic_name(description: str) -> tuple[str, bool]:
    """The entity name opening a topic paragraph, and whether it was found for sure."""
    text = " ".join(description.split())
    match = _NAME_END.search(text)
    candidate = text[: match.start()] if match else text
    words = candidate.split()
    if match is None or len(words) > _NAME_MAX_WORDS:
        guess = " ".join(text.split()[:_GUESS_WORDS]).rstrip(".,;:!?…")
        return guess, False
    if len(words) >= 3:
        middle = [w for w in words[1:-1] if not w.lower().endswith(_PATRONYMIC)]
        words = [words[0], *middle, words[-1]]
    return " ".join(words), True


def _paragraph_checks(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Every paragraph that closes a block, with the block's name, in document order."""
    checks: list[tuple[Loc, str]] = []
    if data["lede"]:
        checks.append((("lede", len(data["lede"]) - 1), "The last paragraph of “What's happened”"))
    for i, sub in enumerate(data["behind_the_headline"]):
        loc: Loc = ("behind_the_headline", i, "paragraphs", len(sub["paragraphs"]) - 1)
        checks.append((loc, f"The last paragraph under {quote(sub['heading'])}"))
    for key in ("what_the_papers_say", "how_we_got_here"):
        if data[key]:
            name = OPTIONAL_SECTIONS[key]
            checks.append(((key, len(data[key]) - 1), f"The last paragraph of “{name}”"))
    for i, question in enumerate(data["questions"]):
        loc = ("questions", i, "answer", len(question["answer"]) - 1)
        checks.append((loc, f"The answer to {quote(question['question'])}"))
    for i, topic in enumerate(data["topics"]):
        if topic["description"]:
            checks.append(
                (("topics", i, "description"), f"The description of {quote(topic['name'])}")
            )
    return checks


def _lookup(data: Mapping[str, Any], loc: Loc) -> Any:
    value: Any = data
    for part in loc:
        value = value[part]
    return value


def check_size(size: int, prefix: str, limits: Limits) -> None:
    """Refuse a briefing of ``size`` bytes over ``limits.briefing_bytes``; ``prefix`` names it."""
    if size > limits.briefing_bytes:
        raise InvalidInputError(
            f"{prefix}: {size:,} bytes or more; a briefing may have at most "
            f"{limits.briefing_bytes:,} bytes (NEWSLETTER_MAX_BRIEFING_BYTES)"
        )


def _paragraphs(data: Mapping[str, Any]) -> Iterator[tuple[Loc, str]]:
    """Every paragraph of the briefing (topic descriptions too) with its location."""
    for key in ("lede", "what_the_papers_say", "how_we_got_here"):
        for i, text in enumerate(data[key]):
            yield (key, i), text
    for i, sub in enumerate(data["behind_the_headline"]):
        for j, text in enumerate(sub["paragraphs"]):
            yield ("behind_the_headline", i, "paragraphs", j), text
    for i, question in enumerate(data["questions"]):
        for j, text in enumerate(question["answer"]):
            yield ("questions", i, "answer", j), text
    for i, topic in enumerate(data["topics"]):
        yield ("topics", i, "description"), topic["description"]


def check_limits(data: Mapping[str, Any], where: Callable[[Loc], str], limits: Limits) -> None:
    """Refuse more topics than ``limits.briefing_topics`` or a paragraph over its bytes."""
    topics = len(data["topics"])
    if topics > limits.briefing_topics:
        raise InvalidInputError(
            f"{where(('topics',))}: {topics} topics; a briefing may list at most "
            f"{limits.briefing_topics} (NEWSLETTER_MAX_BRIEFING_TOPICS)"
        )
    for loc, text in _paragraphs(data):
        # At most 4 bytes a character: only a long paragraph needs encoding to measure.
        if len(text) * 4 > limits.paragraph_bytes:
            size = len(text.encode("utf-8", "surrogatepass"))
            if size > limits.paragraph_bytes:
                raise InvalidInputError(
                    f"{where(loc)}: the paragraph has {size:,} bytes; at most "
                    f"{limits.paragraph_bytes:,} (NEWSLETTER_MAX_PARAGRAPH_BYTES)"
                )


def complete(
    data: dict[str, Any],
    *,
    where: Callable[[Loc], str],
    line_of: Callable[[Loc], int | None],
    warnings: Sequence[ImportWarning] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> BriefingContent:
    """Derive what is missing, add the editor warnings, and validate into the content model.

    ``data`` holds the fields of :class:`BriefingContent` (``title`` and ``slug`` may be
    ``None``). ``where(loc)`` is the error prefix for a field location (file and line, or
    file and JSON path); ``line_of(loc)`` its line for warnings, when known. Topics
    and paragraphs must keep to ``limits`` (``check_limits``).
    """
    check_limits(data, where, limits)
    notes = list(warnings)
    derived = data.get("title") is None
    if derived:
        data["title"] = derive_title(data["lede"][0])
        notes.insert(
            0,
            ImportWarning(
                code=WarningCode.DERIVED_TITLE,
                message=f"No title given; derived {quote(data['title'], 130)} from the first "
                "sentence of “What's happened”.",
                line=line_of(("lede", 0)),
            ),
        )
    if data.get("slug") is None:
        try:
            data["slug"] = slugify(data["title"], max_length=SLUG_FROM_TITLE_MAX)
            if data["slug"].isdigit():  # "2024": a slug is never all digits (an id)
                data["slug"] = f"briefing-{data['slug']}"
        except InvalidInputError as exc:
            origin: Loc = ("lede", 0) if derived else ("title",)
            raise InvalidInputError(f"{where(origin)}: {exc}; give a slug") from None
    for loc, block in _paragraph_checks(data):
        text = _lookup(data, loc)
        if not ends_sentence(text):
            notes.append(
                ImportWarning(
                    code=WarningCode.TRUNCATED,
                    message=f"{block} does not end a sentence; the text may be truncated: "
                    f"it ends “…{_tail(text)}”.",
                    line=line_of(loc),
                )
            )
    for key, heading in OPTIONAL_SECTIONS.items():
        if not data[key]:
            notes.append(
                ImportWarning(
                    code=WarningCode.MISSING_SECTION,
                    message=f"The section {quote(heading)} is missing.",
                )
            )
    try:
        return BriefingContent(**data, title_derived=derived, warnings=tuple(notes))
    except ValidationError as exc:
        raise InvalidInputError(describe(exc, where)) from None


def describe(exc: ValidationError, where: Callable[[Loc], str]) -> str:
    """Every validation error with its location, first to last, separated by ``; ``."""
    # pydantic prefixes messages of our own validators with "Value error, ".
    return "; ".join(
        f"{where(tuple(error['loc']))}: {error['msg'].removeprefix('Value error, ')}"
        for error in exc.errors(include_url=False)
    )


def field_path(loc: Loc) -> str:
    """A location as a JSON path: ``("questions", 0, "answer")`` → ``$.questions[0].answer``.

    A key that is not a plain name (empty, or holding spaces, dots, brackets, quotes or
    control characters) is written as a quoted member, ``$.topics[0]["a b"]``, with
    spaces and anything outside printable ASCII escaped: the path stays one word, so a
    message reads ``file: path: what is wrong`` whatever key the file used.
    """
    return "$" + "".join(_path_part(part) for part in loc)


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _path_part(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if _PLAIN_KEY.match(part):
        return f".{part}"
    return "[" + json.dumps(part, ensure_ascii=True).replace(" ", "\\u0020") + "]"


def _tail(text: str, size: int = 40) -> str:
    """The last words of ``text``, about ``size`` characters."""
    if len(text) <= size:
        return text
    tail = text[-size:]
    return tail.split(" ", 1)[1] if " " in tail[:-1] else tail


def quote(text: str | None, limit: int = 60) -> str:
    """A short, quoted excerpt of ``text`` for messages."""
    text = "" if text is None else " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"“{text}”"


def decode(data: bytes, prefix: Callable[[int], str]) -> str:
    """UTF-8 bytes (with or without a BOM) as text; ``prefix(line)`` starts the error."""
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        line = data.count(b"\n", 0, offset) + 1
        raise InvalidInputError(
            f"{prefix(line)}: the file is not UTF-8 text "
            f"(byte 0x{data[offset]:02x} at offset {offset})"
        ) from None
