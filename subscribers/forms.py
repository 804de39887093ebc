"""Reading small HTML forms safely: size-capped, text only, every field length-checked."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from starlette.exceptions import HTTPException

from newsletter.errors import InvalidInputError

FORM_LIMIT = 16 * 1024  # the largest form here (preferences) is well under 2 KB
MAX_FIELD = 1000
MAX_FIELDS = 200


@dataclass(frozen=True)
class FormValues:
    """The fields of a submitted form, each name mapped to its values in order."""

    fields: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str:
        """The first value of ``name``, or ``""``."""
        values = self.fields.get(name)
        return values[0] if values else ""

    def all(self, name: str) -> list[str]:
        """Every value of ``name`` (checkbox groups)."""
        return list(self.fields.get(name, []))


async def read_form(request: Request) -> FormValues:
    """The request's form fields; 413 if too big, ``InvalidInputError`` naming a bad field."""
    body = await request.body()
    if len(body) > FORM_LIMIT:
        raise HTTPException(413, f"The form is larger than {FORM_LIMIT} bytes.")
    form = await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=FORM_LIMIT)
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise InvalidInputError(f"{name[:40]}: files are not accepted")
        if len(value) > MAX_FIELD:
            raise InvalidInputError(f"{name[:40]}: longer than {MAX_FIELD} characters")
        fields.setdefault(name, []).append(value)
    return FormValues(fields)
