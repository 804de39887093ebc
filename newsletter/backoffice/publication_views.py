"""Admin pages: publications' settings and their mailing lists.

Only admins see or change these. A refused change re-renders the form with the
values as typed and the message naming the field, and writes nothing: the error
leaves the session block, so its transaction is rolled back. Every change is in
the audit trail. The schedule fields (time, zone, days) belong to the schedule page;
the personal-digest settings (local delivery, weekly roundup days and size, what a
reader's topics select) are here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from newsletter.backoffice import actions
from newsletter.backoffice.pages import redirect, render
from newsletter.editors import services as accounts
from newsletter.editors.auth import Principal, client_ip, form_user, page_user
from newsletter.editors.models import Role
from newsletter.errors import InvalidInputError, NotFoundError
from newsletter.parsing import WEEKDAYS
from newsletter.publications.models import TopicMode
from newsletter.publications.services import (
    create_publication,
    get_publication,
    list_publications,
    spec_of,
)
from newsletter.publications.spec import validate_spec
from newsletter.web.deps import runtime_of
from subscribers.choices import DAY_NAMES, check_weekly_days
from subscribers.lists import all_lists

router = APIRouter()

Admin = Annotated[Principal, Depends(page_user(Role.ADMIN))]
AdminForm = Annotated[Principal, Depends(form_user(Role.ADMIN))]
# A form field as typed (a form model's field: FastAPI reads the model from the form).
Typed = Annotated[str, Field(max_length=500)]
Address = Annotated[str, Field(max_length=2000)]

# The fields the form edits, with the label the editor sees (errors use the label too).
FIELDS = {
    "name": "Name",
    "tagline": "Tagline",
    "from_name": "Sender name",
    "from_email": "Sender email",
    "reply_to": "Reply-to email",
    "base_url": "Site address",
    "postal_address": "Postal address",
    "language": "Language",
    "languages": "Languages offered",
    "max_briefings": "Briefings per edition",
    "topics": "Topics",
    "accent_color": "Accent colour",
    "logo_url": "Logo address",
    "track_opens": "Track opens",
    "track_clicks": "Track clicks",
    "local_delivery": "Deliver in each reader's time zone",
    "weekly_days": "Weekly roundup days",
    "weekly_max": "Briefings per roundup",
    "topic_mode": "Readers' topics",
    "alerts_per_day": "Alerts a day",
    "digest_group_id": "Digest unsubscribe group",
    "alert_group_id": "Alerts unsubscribe group",
}

_NOT_TEXT = {
    "languages",
    "topics",
    "max_briefings",
    "track_opens",
    "track_clicks",
    "local_delivery",
    "weekly_days",
    "weekly_max",
    "topic_mode",
    "alerts_per_day",
    "digest_group_id",
    "alert_group_id",
}
TEXT_FIELDS = tuple(name for name in FIELDS if name not in _NOT_TEXT)
CHECKBOXES = ("track_opens", "track_clicks", "local_delivery")
TOPIC_MODES = {
    TopicMode.ONLY.value: "Only the briefings on their topics",
    TopicMode.FIRST.value: "Their topics first, then the rest of the edition",
}


def field_label(name: str) -> str:
    """The form label of a publication field, for error messages."""
    return FIELDS.get(name, name)


def form_values(spec: dict[str, Any]) -> dict[str, Any]:
    """A publication's values as the form shows them (topics one per line)."""
    values = {name: spec.get(name, "") for name in FIELDS}
    values["topics"] = "\n".join(spec.get("topics") or ())
    values["languages"] = ", ".join(spec.get("languages") or ())
    values["weekly_days"] = list(spec.get("weekly_days") or ())
    for name in GROUP_FIELDS:
        values[name] = "" if spec.get(name) is None else str(spec[name])
    return values


GROUP_FIELDS = ("digest_group_id", "alert_group_id")


def _group(typed: str) -> int | str | None:
    """A typed unsubscribe group: blank is none; validation names a field that is no number."""
    text = typed.strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) < 12 else text


def _count(typed: str) -> int | str:
    """A typed count as a number when it is one; validation names the field otherwise."""
    count = typed.strip()
    return int(count) if count.isdigit() and len(count) < 6 else count


def split_languages(typed: str) -> list[str]:
    """Typed language tags, separated by commas or spaces (none: only the default)."""
    return typed.replace(",", " ").split()


def changes_from_form(
    values: dict[str, str], checked: set[str], weekly_days: list[str] | None = None
) -> dict[str, Any]:
    """The typed form values as ``edit_publication`` changes; validation happens there.

    Unticked checkboxes are not sent by browsers, so they are ``False`` (and no days
    ticked is no weekly roundup); a blank roundup size, topic mode or alert limit (a client that
    does not show them) keeps the stored value.
    """
    changes: dict[str, Any] = {name: values[name] for name in TEXT_FIELDS}
    changes["max_briefings"] = _count(values["max_briefings"])
    changes["languages"] = split_languages(values.get("languages", ""))
    changes["topics"] = [line.strip() for line in values["topics"].splitlines() if line.strip()]
    for name in CHECKBOXES:
        changes[name] = name in checked
    changes["weekly_days"] = list(weekly_days or ())
    if values.get("weekly_max", "").strip():
        changes["weekly_max"] = _count(values["weekly_max"])
    if values.get("alerts_per_day", "").strip():
        changes["alerts_per_day"] = _count(values["alerts_per_day"])
    if values.get("topic_mode", "").strip():
        changes["topic_mode"] = values["topic_mode"].strip()
    for name in GROUP_FIELDS:
        if name in values:
            changes[name] = _group(values[name])
    return changes


# What a new publication needs; the rest takes the defaults and is set on its page.
NEW_FIELDS = {
    "slug": "Address name (slug)",
    "name": "Name",
    "from_name": "Sender name",
    "from_email": "Sender email",
    "base_url": "Site address",
    "postal_address": "Postal address",
    "timezone": "Time zone",
    "language": "Language",
    "languages": "Languages offered",
}


def new_field_label(name: str) -> str:
    """The new-publication form's label of a field, for error messages."""
    return NEW_FIELDS.get(name) or FIELDS.get(name, name)


def _publications_view(
    request: Request,
    user: Principal,
    *,
    error: str = "",
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with runtime_of(request).database.session() as db:
        lists = all_lists(db)
        rows = [
            {
                "slug": p.slug,
                "name": p.name,
                "from_email": p.from_email,
                "languages": p.offered_languages(),
                "paused": p.paused,
                "lists": sum(1 for m in lists if m.publication == p.slug),
            }
            for p in list_publications(db)
        ]
    return render(
        request,
        "publications.html",
        user=user,
        section="publications",
        page_title="Publications",
        status=status,
        rows=rows,
        new_fields=NEW_FIELDS,
        typed=typed or {"timezone": "UTC", "language": "en"},
        error=error,
    )


@router.get("/publications", response_class=HTMLResponse)
def publications_page(request: Request, user: Admin) -> Response:
    """Every publication with its sender and list count, linking to its settings; the
    form that adds one."""
    return _publications_view(request, user)


class _Essentials(BaseModel):
    """The fields both publication forms send, as typed."""

    name: Typed = ""
    from_name: Typed = ""
    from_email: Typed = ""
    base_url: Typed = ""
    postal_address: Address = ""
    language: Typed = ""
    languages: Typed = ""


class NewPublicationForm(_Essentials):
    """What the new-publication form sends (``NEW_FIELDS``), as typed."""

    slug: Typed = ""
    timezone: Typed = ""


@router.post("/publications")
def add_publication(
    request: Request, user: AdminForm, form: Annotated[NewPublicationForm, Form()]
) -> Response:
    """Create a publication from the essentials; refused in place, naming the field."""
    typed: dict[str, str] = form.model_dump()
    data: dict[str, Any] = {key: value.strip() for key, value in typed.items() if value.strip()}
    if "languages" in data:
        data["languages"] = split_languages(data["languages"])
    try:
        spec = validate_spec(data, where="Not added", label=new_field_label)
        with runtime_of(request).database.session() as db:
            if any(p.slug == spec.slug for p in list_publications(db)):
                raise InvalidInputError(
                    f"Not added: {NEW_FIELDS['slug']}: {spec.slug!r} is another publication's"
                )
            create_publication(db, spec)
            accounts.audit(db, user.name, "publication.add", spec.slug, ip=client_ip(request))
    except InvalidInputError as exc:
        return _publications_view(request, user, error=str(exc), typed=typed, status=400)
    return redirect(f"/editor/publications/{spec.slug}", "publication-created")


def _edit_view(
    request: Request,
    user: Principal,
    slug: str,
    values: dict[str, Any],
    *,
    error: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "publication.html",
        user=user,
        section="publications",
        page_title=f"Settings of {values['name'] or slug}",
        status=status,
        slug=slug,
        values=values,
        labels=FIELDS,
        error=error,
        days=[(day, DAY_NAMES[day]) for day in WEEKDAYS],
        topic_modes=TOPIC_MODES,
    )


@router.get("/publications/{slug}", response_class=HTMLResponse)
def publication_form(request: Request, user: Admin, slug: str) -> Response:
    """The settings form of one publication."""
    with runtime_of(request).database.session() as db:
        values = form_values(spec_of(get_publication(db, slug)).model_dump(mode="json"))
    return _edit_view(request, user, slug, values)


class PublicationForm(_Essentials):
    """What the settings form sends (``FIELDS``), as typed: a ticked box is non-blank."""

    tagline: Typed = ""
    reply_to: Typed = ""
    max_briefings: Typed = ""
    topics: Annotated[str, Field(max_length=10_000)] = ""
    accent_color: Typed = ""
    logo_url: Typed = ""
    track_opens: Typed = ""
    track_clicks: Typed = ""
    local_delivery: Typed = ""
    weekly_days: Annotated[list[str], Field(max_length=7)] = []
    weekly_max: Typed = ""
    topic_mode: Typed = ""
    alerts_per_day: Typed = ""
    digest_group_id: Typed = ""
    alert_group_id: Typed = ""


@router.post("/publications/{slug}")
def save_publication(
    request: Request, user: AdminForm, slug: str, form: Annotated[PublicationForm, Form()]
) -> Response:
    """Save the settings; the whole publication is validated again before anything is written.

    Dropping a weekly roundup day that readers chose is refused (``check_weekly_days``):
    they would silently stop getting mail.
    """
    typed: dict[str, str] = form.model_dump(exclude={*CHECKBOXES, "weekly_days"})
    checked = {name for name in CHECKBOXES if getattr(form, name)}
    weekly_days = form.weekly_days
    try:
        with runtime_of(request).database.session() as db:
            changes = changes_from_form(typed, checked, weekly_days)
            publication = actions.edit_publication(
                db, user.name, client_ip(request), slug, changes, label=field_label
            )
            check_weekly_days(db, publication, label=field_label("weekly_days"))
    except InvalidInputError as exc:
        values: dict[str, Any] = {**typed, **{name: name in checked for name in CHECKBOXES}}
        values["weekly_days"] = [day for day in weekly_days if day in WEEKDAYS]
        return _edit_view(request, user, slug, values, error=str(exc), status=400)
    return redirect(f"/editor/publications/{slug}", "publication-saved")


def _lists_view(
    request: Request,
    user: Principal,
    *,
    chosen: str = "",
    typed: dict[str, Any] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    with runtime_of(request).database.session() as db:
        publications = [(p.slug, p.name) for p in list_publications(db)]
        lists = all_lists(db)
    groups = [
        {"slug": slug, "name": name, "lists": [m for m in lists if m.publication == slug]}
        for slug, name in publications
        if not chosen or slug == chosen
    ]
    return render(
        request,
        "lists.html",
        user=user,
        section="lists",
        page_title="Mailing lists",
        status=status,
        groups=groups,
        publications=publications,
        chosen=chosen,
        typed=typed or {"publication": chosen, "slug": "", "name": "", "double_opt_in": True},
        error=error,
    )


@router.get("/lists", response_class=HTMLResponse)
def lists_page(
    request: Request, user: Admin, publication: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    """Every publication's mailing lists with their opt-in mode and subscriber counts."""
    return _lists_view(request, user, chosen=publication)


@router.post("/lists")
def create_list(
    request: Request,
    user: AdminForm,
    publication: Annotated[str, Form(max_length=64)] = "",
    slug: Annotated[str, Form(max_length=100)] = "",
    name: Annotated[str, Form(max_length=300)] = "",
    double_opt_in: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Add a mailing list to a publication."""
    double = double_opt_in == "yes"
    try:
        with runtime_of(request).database.session() as db:
            actions.add_list(
                db, user.name, client_ip(request), publication, slug.strip(), name, double=double
            )
    except (InvalidInputError, NotFoundError) as exc:
        typed = {"publication": publication, "slug": slug, "name": name, "double_opt_in": double}
        return _lists_view(request, user, typed=typed, error=str(exc), status=400)
    return redirect(f"/editor/lists?publication={publication}", "list-added")


@router.post("/lists/{slug}/opt-in")
def switch_opt_in(
    request: Request,
    user: AdminForm,
    slug: str,
    double_opt_in: Annotated[str, Form(max_length=5)],
) -> Response:
    """Switch a list between double and single opt-in (affects new sign-ups only)."""
    double = double_opt_in == "yes"
    with runtime_of(request).database.session() as db:
        mailing_list = actions.set_opt_in(db, user.name, client_ip(request), slug, double=double)
        owner = mailing_list.publication.slug
    return redirect(
        f"/editor/lists?publication={owner}", "opt-in-double" if double else "opt-in-single"
    )
