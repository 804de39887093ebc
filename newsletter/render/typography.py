"""How an email sets its language: direction, the sides it mirrors, fonts, line breaking.

Email clients honour few logical CSS properties, so a right-to-left email swaps the
physical sides itself: ``start`` is where a line begins ("left" in English, "right" in
Arabic), and paddings, margins, alignment and arrows follow. MJML (mrml) writes
``direction`` only where a section or column asks for it, so the base layout sets it
on every section and column.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from newsletter import i18n

# Type for each script: the fonts that carry it, named before the generic family (Georgia
# and Helvetica have no Hangul or Arabic letters); Korean reads better in a sans face.
# Markup: trusted constants whose quotes must reach the CSS as they are.
_SERIF = Markup("Georgia, 'Times New Roman', serif")
_SANS = Markup("Helvetica, Arial, sans-serif")
_KOREAN = Markup(
    "'Apple SD Gothic Neo', 'Malgun Gothic', 'Noto Sans KR', NanumGothic, "
    "Helvetica, Arial, sans-serif"
)
_FONTS: dict[str, tuple[Markup, Markup]] = {
    "ko": (_KOREAN, _KOREAN),
    "ar": (
        Markup(
            "Georgia, 'Times New Roman', 'Noto Naskh Arabic', 'Geeza Pro', "
            "'Traditional Arabic', serif"
        ),
        Markup("Helvetica, Arial, 'Noto Sans Arabic', 'Geeza Pro', Tahoma, sans-serif"),
    ),
}
# Scripts whose labels are not spaced out: letter-spacing tears Arabic's joined letters
# apart, and Hangul and Han have no capitals to track.
_UNTRACKED = frozenset({"ar", "fa", "he", "ur", "ko", "ja", "zh"})
_LEFT_ARROW = Markup("&larr;")
_RIGHT_ARROW = Markup("&rarr;")


def look(language: str) -> dict[str, Any]:
    """The values ``email/layout`` and the emails read as ``look`` for ``language``."""
    base = i18n.babel_locale(language).language
    rtl = i18n.direction(language) == "rtl"
    serif, sans = _FONTS.get(base, (_SERIF, _SANS))
    return {
        "dir": "rtl" if rtl else "ltr",
        "start": "right" if rtl else "left",
        "end": "left" if rtl else "right",
        "serif": serif,
        "sans": sans,
        "sans_css": sans.replace(", ", ","),  # for style attributes
        "tracking": "0" if base in _UNTRACKED else "1px",
        # Korean breaks lines between words (at spaces), never inside one; Chinese and
        # Japanese, written without spaces, keep the browser's default.
        "word_break": "keep-all" if base == "ko" else "normal",
        "arrow": _LEFT_ARROW if rtl else _RIGHT_ARROW,  # "Read on the web →"
        "list_padding": "0 22px 0 0" if rtl else "0 0 0 22px",
        "tag_margin": "0 0 0 6px" if rtl else "0 6px 0 0",
    }
