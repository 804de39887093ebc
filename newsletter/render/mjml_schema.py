"""What MJML 4 allows: its elements, their parents and their attributes.

MRML (behind ``mjml-python``) renders unknown tags and attributes silently, so
``mjml_check`` validates templates against this table, written from MJML's
component documentation. Elements marked ``raw`` hold HTML (or text) that MJML
copies as is; the checker does not look inside them.
"""

from __future__ import annotations

from dataclasses import dataclass

_PADDING = frozenset({"padding", "padding-top", "padding-right", "padding-bottom", "padding-left"})
_BORDER = frozenset({"border", "border-top", "border-right", "border-bottom", "border-left"})
_FONT = frozenset(
    {
        "color",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "letter-spacing",
        "line-height",
        "text-decoration",
        "text-transform",
    }
)
_LINK = frozenset({"href", "rel", "target", "title", "name"})
# Every body element accepts these (MJML's global attributes).
GLOBAL = frozenset({"css-class", "mj-class"})
_BACKGROUND = frozenset(
    {
        "background-color",
        "background-position",
        "background-position-x",
        "background-position-y",
        "background-repeat",
        "background-size",
        "background-url",
    }
)
_SECTION = (
    _PADDING
    | _BORDER
    | _BACKGROUND
    | {"border-radius", "direction", "full-width", "text-align", "text-padding"}
)
_CONTENT_PARENTS = frozenset({"mj-column", "mj-hero"})


@dataclass(frozen=True)
class Element:
    """One MJML element: where it may appear and which attributes it takes."""

    parents: frozenset[str]
    attributes: frozenset[str]
    raw: bool = False


def _el(parents: set[str] | frozenset[str], attributes: set[str] | frozenset[str]) -> Element:
    return Element(frozenset(parents), frozenset(attributes) | GLOBAL)


def _raw(parents: set[str] | frozenset[str], attributes: set[str] | frozenset[str]) -> Element:
    return Element(frozenset(parents), frozenset(attributes) | GLOBAL, raw=True)


ELEMENTS: dict[str, Element] = {
    "mjml": Element(frozenset({""}), frozenset({"lang", "dir", "owa"})),
    "mj-head": Element(frozenset({"mjml"}), frozenset()),
    "mj-body": _el({"mjml"}, {"background-color", "width"}),
    "mj-include": Element(
        frozenset({"mjml", "mj-head", "mj-body", "mj-section", "mj-column", "mj-wrapper"}),
        frozenset({"path", "type", "css-inline"}),
    ),
    # Head elements.
    "mj-title": Element(frozenset({"mj-head"}), frozenset(), raw=True),
    "mj-preview": Element(frozenset({"mj-head"}), frozenset(), raw=True),
    "mj-style": Element(frozenset({"mj-head"}), frozenset({"inline"}), raw=True),
    "mj-font": Element(frozenset({"mj-head"}), frozenset({"name", "href"})),
    "mj-breakpoint": Element(frozenset({"mj-head"}), frozenset({"width"})),
    "mj-attributes": Element(frozenset({"mj-head"}), frozenset()),
    "mj-all": Element(frozenset({"mj-attributes"}), frozenset(), raw=True),
    "mj-class": Element(frozenset({"mj-attributes"}), frozenset(), raw=True),
    "mj-html-attributes": Element(frozenset({"mj-head"}), frozenset()),
    "mj-selector": Element(frozenset({"mj-html-attributes"}), frozenset({"path"})),
    "mj-html-attribute": Element(frozenset({"mj-selector"}), frozenset({"name"}), raw=True),
    # Layout.
    "mj-wrapper": _el({"mj-body"}, _SECTION | {"gap"}),
    "mj-section": _el({"mj-body", "mj-wrapper"}, _SECTION),
    "mj-group": _el({"mj-section"}, {"background-color", "direction", "vertical-align", "width"}),
    "mj-column": _el(
        {"mj-section", "mj-group"},
        _PADDING
        | _BORDER
        | {
            "background-color",
            "border-radius",
            "direction",
            "inner-background-color",
            "inner-border",
            "inner-border-top",
            "inner-border-right",
            "inner-border-bottom",
            "inner-border-left",
            "inner-border-radius",
            "vertical-align",
            "width",
        },
    ),
    "mj-hero": _el(
        {"mj-body", "mj-wrapper"},
        _PADDING
        | {
            "background-color",
            "background-height",
            "background-position",
            "background-url",
            "background-width",
            "border-radius",
            "height",
            "inner-background-color",
            "inner-padding",
            "inner-padding-top",
            "inner-padding-right",
            "inner-padding-bottom",
            "inner-padding-left",
            "mode",
            "vertical-align",
            "width",
        },
    ),
    # Content.
    "mj-text": _raw(
        _CONTENT_PARENTS,
        _PADDING | _FONT | {"align", "container-background-color", "height", "vertical-align"},
    ),
    "mj-button": _raw(
        _CONTENT_PARENTS,
        _PADDING
        | _BORDER
        | _FONT
        | _LINK
        | {
            "align",
            "background-color",
            "border-radius",
            "container-background-color",
            "height",
            "inner-padding",
            "text-align",
            "vertical-align",
            "width",
        },
    ),
    "mj-image": _el(
        _CONTENT_PARENTS,
        _PADDING
        | _BORDER
        | _LINK
        | {
            "align",
            "alt",
            "border-radius",
            "container-background-color",
            "fluid-on-mobile",
            "height",
            "sizes",
            "src",
            "srcset",
            "usemap",
            "width",
        },
    ),
    "mj-divider": _el(
        _CONTENT_PARENTS,
        _PADDING
        | {"align", "border-color", "border-style", "border-width", "container-background-color"}
        | {"width"},
    ),
    "mj-spacer": _el(_CONTENT_PARENTS, _PADDING | {"container-background-color", "height"}),
    "mj-table": _raw(
        _CONTENT_PARENTS,
        _PADDING
        | _FONT
        | {
            "align",
            "border",
            "cellpadding",
            "cellspacing",
            "container-background-color",
            "role",
            "table-layout",
            "width",
        },
    ),
    "mj-raw": _raw(
        {"mj-head", "mj-body", "mj-wrapper", "mj-section", "mj-group", "mj-column", "mj-hero"},
        {"position"},
    ),
    "mj-social": _el(
        _CONTENT_PARENTS,
        _PADDING
        | _FONT
        | {
            "align",
            "border-radius",
            "container-background-color",
            "icon-height",
            "icon-padding",
            "icon-size",
            "inner-padding",
            "mode",
            "text-padding",
        },
    ),
    "mj-social-element": _raw(
        {"mj-social"},
        _PADDING
        | _FONT
        | _LINK
        | {
            "align",
            "alt",
            "background-color",
            "border-radius",
            "icon-height",
            "icon-padding",
            "icon-position",
            "icon-size",
            "sizes",
            "src",
            "srcset",
            "text-padding",
            "vertical-align",
        },
    ),
    "mj-navbar": _el(
        _CONTENT_PARENTS,
        {
            "align",
            "base-url",
            "hamburger",
            "ico-align",
            "ico-close",
            "ico-color",
            "ico-font-family",
            "ico-font-size",
            "ico-line-height",
            "ico-open",
            "ico-padding",
            "ico-padding-top",
            "ico-padding-right",
            "ico-padding-bottom",
            "ico-padding-left",
            "ico-text-decoration",
            "ico-text-transform",
        },
    ),
    "mj-navbar-link": _raw({"mj-navbar"}, _PADDING | _FONT | _LINK),
}
