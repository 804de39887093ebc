"""The API reference page: the OpenAPI document as readable prose with example bodies.

Docstrings are written with reStructuredText's ````code```` marks; the page shows them
as paragraphs with ``<code>``, never the raw marks. Each request body gets an example
built from its schema: a field's own example or default when it declares one, else a
value of its type (the first choice of an enum), so the example is always valid in
shape and no hand-written example can drift from the schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

from markupsafe import Markup, escape

_CODE = re.compile(r"``(.+?)``|`([^`]+?)`")
_PLACEHOLDERS = {"integer": 1, "number": 1.0, "boolean": True, "null": None}
_FORMATS = {
    "date": "2026-12-01",
    "date-time": "2026-12-01T07:00:00Z",
    "email": "reader@example.org",
}
MAX_DEPTH = 6


def prose(text: str | None) -> Markup:
    """``text`` as HTML paragraphs, with ````code```` (or ```code```) as ``<code>``."""
    paragraphs = [" ".join(part.split()) for part in re.split(r"\n\s*\n", text or "")]
    html = []
    for paragraph in filter(None, paragraphs):
        pieces, last = [], 0
        for match in _CODE.finditer(paragraph):
            pieces.append(escape(paragraph[last : match.start()]))
            pieces.append(Markup("<code>%s</code>") % (match.group(1) or match.group(2)))
            last = match.end()
        pieces.append(escape(paragraph[last:]))
        html.append(Markup("<p>") + Markup("").join(pieces) + Markup("</p>"))
    return Markup("\n").join(html)


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return dict(components.get(ref.rsplit("/", 1)[1], {}))
    if ref.startswith("#/$defs/"):
        return dict(components.get(ref.rsplit("/", 1)[1], {}))
    return schema


def _given(schema: dict[str, Any]) -> tuple[bool, Any]:
    """The value the schema itself offers (its example, default or constant), if any."""
    for key in ("examples", "example", "default", "const"):
        if key in schema:
            value = schema[key]
            return True, (
                value[0] if key == "examples" and isinstance(value, list) and value else value
            )
    return False, None


def example(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A value of the shape ``schema`` describes (``$ref`` resolved in ``components``)."""
    schema = _resolve(schema, components)
    offered, value = _given(schema)
    if offered:
        return value
    if depth > MAX_DEPTH:
        return None
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        choices = [c for c in schema.get(key, []) if c.get("type") != "null"]
        if choices:
            return example(choices[0], components, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = set(schema.get("required", properties))
        return {
            name: example(field, components, depth + 1)
            for name, field in properties.items()
            if name in required or depth == 0
        }
    if kind == "array":
        item = example(schema.get("items", {}), components, depth + 1)
        return [] if item is None else [item]
    if kind == "string" and schema.get("format") == "date":
        return "2026-12-01"
    if kind == "string" and schema.get("format") == "date-time":
        return "2026-12-01T07:00:00Z"
    if kind == "string" and schema.get("format") == "email":
        return "reader@example.org"
    return _PLACEHOLDERS.get(str(kind))


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of the document, as the page shows it."""
    components = document.get("components", {}).get("schemas", {})
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            found.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": prose(operation.get("description")),
                    "parameters": operation.get("parameters", []),
                    "answers": [
                        (code, answer.get("description", ""))
                        for code, answer in operation.get("responses", {}).items()
                    ],
                    "example": json.dumps(example(body, components), indent=2) if body else "",
                }
            )
    return found
