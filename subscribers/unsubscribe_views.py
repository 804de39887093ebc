"""The unsubscribe pages (RFC 8058 one-click included) and the preferences page (a router).

The preferences page sets, per list, topics and cadence (daily, or a weekly roundup on
a day the publication offers), and for the reader their time zone (or the
publication's) and a pause. A refused value shows the form again as typed, with the
message next to the field at fault, and changes nothing.

Every link from an email lands on a GET that changes nothing and shows a button; the
change happens on POST. That keeps mail scanners, which open every link, from
unsubscribing anyone. ``POST /u/{token}`` is the RFC 8058 one-click endpoint: no
cookie, no login, the body ``List-Unsubscribe=One-Click``, done at once. Every page
that answers GET also answers HEAD (link checkers and proxies send it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import object_session
from starlette.concurrency import run_in_threadpool

from newsletter.content.edition import Cadence, MailKind
from newsletter.db import utcnow
from newsletter.errors import InvalidInputError
from newsletter.i18n import gettext_for, long_date
from newsletter.runtime import Runtime
from newsletter.web.deps import runtime_of
from newsletter.web.pages import _, render_page
from subscribers import services
from subscribers.choices import language_options, offered_days, offered_topics, zone_options
from subscribers.forms import FormValues, read_form
from subscribers.models import ConsentSource, Subscription, SubscriptionState
from subscribers.preferences import ChoiceError, ListChoice, Preferences, update_preferences
from subscribers.tokens import Purpose
from subscribers.view_support import PAGE_METHODS, day_labels, evidence_of, links_of, read_token

router = APIRouter()

PAUSE_OPTIONS = [
    ("", _("Not paused")),
    ("7", _("For 1 week")),
    ("30", _("For 1 month")),
    ("90", _("For 3 months")),
]
KEEP_PAUSE = "keep"
# How the pages name each kind of mail (``services.KIND_NAMES`` is the records' English).
KIND_LABELS = {MailKind.DIGEST: _("the digest"), MailKind.ALERT: _("alerts")}


# -- unsubscribe --------------------------------------------------------------------


@router.api_route("/unsubscribe/{token}", methods=PAGE_METHODS)
@router.api_route("/u/{token}", methods=PAGE_METHODS)
def unsubscribe_page(request: Request, token: str) -> Response:
    """Show the unsubscribe button; a GET never unsubscribes.

    A link from a mail names its kind: the page offers to stop that kind only, and
    says which kind the reader keeps.
    """
    runtime = runtime_of(request)
    subject = read_token(runtime, Purpose.UNSUBSCRIBE, token)
    with runtime.database.session() as session:
        subscription = services.subscription_for(session, subject)
        context = _unsubscribe_context(runtime, subscription, subject.kind)
        unsubscribed = subscription.state is SubscriptionState.UNSUBSCRIBED
        left = subject.kind is not None and not services.gets_kind(subscription, subject.kind)
    if unsubscribed or left:
        return render_page("subscribers/unsubscribed.html", **context)
    context["page_title"] = gettext_for(context["language"], "Unsubscribe")
    return render_page("subscribers/unsubscribe.html", action=request.url.path, **context)


def _unsubscribe_context(
    runtime: Runtime, subscription: Subscription, kind: MailKind | None
) -> dict[str, Any]:
    """What both unsubscribe pages show: the list, the address, the kinds left and kept."""
    mailing_list = subscription.mailing_list
    language = mailing_list.publication.language
    unsubscribed = subscription.state is SubscriptionState.UNSUBSCRIBED

    def name_of(each: MailKind) -> str:
        return gettext_for(language, KIND_LABELS[each])

    kept = ""
    if kind is not None and not unsubscribed:
        other = MailKind.ALERT if kind is MailKind.DIGEST else MailKind.DIGEST
        kept = name_of(other) if services.gets_kind(subscription, other) else ""
    if unsubscribed or kind is None:
        title = gettext_for(language, "You are unsubscribed")
    else:
        title = gettext_for(language, "You left %(kind)s") % {"kind": name_of(kind)}
    return {
        "language": language,
        "page_title": title,
        "site_name": mailing_list.publication.name,
        "list_name": mailing_list.name,
        "email": subscription.subscriber.email,
        "kind_name": name_of(kind) if kind is not None else "",
        "kept_name": kept,
        "unsubscribed": unsubscribed,
        "preferences_url": links_of(runtime).preferences_url(
            subscription.subscriber_id, subscription.list_id
        ),
        "has_topics": _has_topics(subscription),
    }


def _has_topics(subscription: Subscription) -> bool:
    """Whether the reader's preferences page offers topics (so a link may promise them)."""
    session = object_session(subscription)
    assert session is not None  # read inside the view's session
    return bool(offered_topics(session, subscription.mailing_list.publication))


def _unsubscribe(request: Request, token: str, form: FormValues) -> Response:
    runtime = runtime_of(request)
    subject = read_token(runtime, Purpose.UNSUBSCRIBE, token)
    if form.first("List-Unsubscribe") != "One-Click":
        raise InvalidInputError("List-Unsubscribe: the body must be List-Unsubscribe=One-Click")
    source = ConsentSource.ONE_CLICK if request.url.path.startswith("/u/") else ConsentSource.EMAIL
    with runtime.database.session() as session:
        subscription = services.unsubscribe(session, subject, evidence_of(request, source))
        context = _unsubscribe_context(runtime, subscription, subject.kind)
    return render_page("subscribers/unsubscribed.html", **context)


@router.post("/unsubscribe/{token}")
@router.post("/u/{token}")
async def unsubscribe(request: Request, token: str) -> Response:
    """Unsubscribe at once (RFC 8058 one-click, or the page's button); idempotent."""
    form = await read_form(request)
    return await run_in_threadpool(_unsubscribe, request, token, form)


# -- preferences --------------------------------------------------------------------


def _preferences_page(
    request: Request,
    token: str,
    *,
    error: str = "",
    status: int = 200,
    problem: ChoiceError | None = None,
    typed: FormValues | None = None,
) -> Response:
    runtime = runtime_of(request)
    subject = read_token(runtime, Purpose.PREFERENCES, token)
    with runtime.database.session() as session:
        subscription = services.subscription_for(session, subject)
        subscriber = subscription.subscriber
        publication = subscription.mailing_list.publication
        language = publication.language
        topics = offered_topics(session, publication)
        days = offered_days(publication)
        mine = {item.list_id: item for item in subscriber.subscriptions}
        lists = []
        for mailing_list in services.lists_of_publication(session, publication.id):
            lists.append(_list_entry(mailing_list.id, mailing_list.name, mine, topics, days, typed))
        paused = subscription.paused_until
        paused_text = long_date(paused, language) if paused and paused > utcnow() else ""
        options = [(value, gettext_for(language, label)) for value, label in PAUSE_OPTIONS]
        if paused_text:
            options.insert(0, (KEEP_PAUSE, gettext_for(language, "Keep the current pause")))
        zone = typed.first("timezone") if typed else (subscriber.timezone or "")
        context: dict[str, Any] = {
            "language": language,
            "page_title": gettext_for(language, "Your preferences"),
            "site_name": publication.name,
            "email": subscriber.email,
            "lists": lists,
            "zone": zone,
            "zones": zone_options(zone),
            "publication_zone": publication.timezone,
            "local_delivery": publication.local_delivery,
            "send_time": publication.send_time.strftime("%H:%M"),
            "weekly_days": day_labels(days, language),
            "languages": language_options(publication),
            # What they get now: their own language if offered, else the default.
            "reader_language": typed.first("locale")
            if typed
            else publication.language_for(subscriber.locale),
        }
    return render_page(
        "subscribers/preferences.html",
        status=status,
        action=f"/preferences/{token}",
        saved=request.query_params.get("saved") == "1" and not error,
        error=error,
        error_field=problem.field if problem else "",
        error_list=problem.list_id if problem else None,
        pause_options=options,
        pause_value=KEEP_PAUSE if paused_text else "",
        paused_until=paused_text,
        **context,
    )


def _list_entry(
    list_id: int,
    name: str,
    mine: dict[int, Subscription],
    topics: list[str],
    days: list[str],
    typed: FormValues | None,
) -> dict[str, Any]:
    """One list's part of the page: as stored, or as typed when the form is shown again."""
    current = mine.get(list_id)
    if typed is not None:
        return {
            "id": list_id,
            "name": name,
            "subscribed": str(list_id) in typed.all("list"),
            "topics": topics,
            "chosen": typed.all(f"topics-{list_id}"),
            "cadence": typed.first(f"cadence-{list_id}") or Cadence.DAILY.value,
            "weekly_day": typed.first(f"weekly_day-{list_id}"),
            "digests": bool(typed.first(f"digests-{list_id}")),
            "alerts": bool(typed.first(f"alerts-{list_id}")),
            "alert_chosen": typed.all(f"alert_topics-{list_id}"),
        }
    return {
        "id": list_id,
        "name": name,
        "subscribed": current is not None and current.state is SubscriptionState.CONFIRMED,
        "topics": topics,
        "chosen": list(current.topics) if current else [],
        "cadence": current.cadence.value if current else Cadence.DAILY.value,
        "weekly_day": (current.weekly_day if current else None) or (days[0] if days else ""),
        "digests": current.digests if current else True,
        "alerts": current.alerts if current else False,
        "alert_chosen": list(current.alert_topics) if current else [],
    }


@router.api_route("/preferences/{token}", methods=PAGE_METHODS)
def preferences_page(request: Request, token: str) -> Response:
    """The preferences form: lists, topics, cadence, time zone, pause."""
    return _preferences_page(request, token)


def _list_choice(form: FormValues, list_id: int, chosen_lists: set[str]) -> ListChoice:
    """One list's choices as the form sent them (cadence ``None``: the form did not show it)."""
    cadence_field = f"cadence-{list_id}"
    cadence = form.first(cadence_field) if cadence_field in form.fields else None
    weekly = (cadence or "").strip().lower() == Cadence.WEEKLY.value
    # The kinds' checkboxes are sent only when ticked: a hidden marker says the form had them.
    kinds = f"kinds-{list_id}" in form.fields
    return ListChoice(
        list_id=list_id,
        subscribed=str(list_id) in chosen_lists,
        topics=tuple(form.all(f"topics-{list_id}")),
        cadence=cadence,
        # The day select is always sent; it only counts for a weekly choice.
        weekly_day=form.first(f"weekly_day-{list_id}") if weekly else "",
        digests=bool(form.first(f"digests-{list_id}")) if kinds else None,
        alerts=bool(form.first(f"alerts-{list_id}")) if kinds else None,
        alert_topics=tuple(form.all(f"alert_topics-{list_id}")),
    )


def _chosen_locale(form: FormValues, subscription: Subscription) -> str | None:
    """The language the form chose, or None to keep the reader's: the form did not show
    the choice, or left it on what they get already (a reader who never chose stays so,
    following each publication's default)."""
    if "locale" not in form.fields:
        return None
    typed = form.first("locale")
    publication = subscription.mailing_list.publication
    current = publication.language_for(subscription.subscriber.locale)
    return None if typed.strip().casefold() == current.casefold() else typed


def _save_preferences(request: Request, token: str, form: FormValues) -> Response:
    runtime = runtime_of(request)
    subject = read_token(runtime, Purpose.PREFERENCES, token)
    pause = form.first("pause")
    if pause not in {KEEP_PAUSE, *(value for value, _ in PAUSE_OPTIONS)}:
        raise InvalidInputError(f"pause: {pause[:20]!r} is not one of the offered choices")
    chosen_lists = set(form.all("list"))
    try:
        with runtime.database.session() as session:
            subscription = services.subscription_for(session, subject)
            publication_id = subscription.mailing_list.publication_id
            offered = services.lists_of_publication(session, publication_id)
            unknown = chosen_lists - {str(mailing_list.id) for mailing_list in offered}
            if unknown:
                shown = ", ".join(sorted(value[:20] for value in unknown)[:5])
                raise InvalidInputError(f"list: {shown} is not a list offered on this page")
            if pause == KEEP_PAUSE:
                paused_until = subscription.paused_until
            else:
                paused_until = utcnow() + timedelta(days=int(pause)) if pause else None
            choices = tuple(
                _list_choice(form, mailing_list.id, chosen_lists) for mailing_list in offered
            )
            update_preferences(
                session,
                subscription.subscriber,
                publication_id,
                Preferences(
                    choices=choices,
                    paused_until=paused_until,
                    timezone=form.first("timezone") if "timezone" in form.fields else None,
                    locale=_chosen_locale(form, subscription),
                ),
                evidence_of(request, ConsentSource.EMAIL),
            )
    except ChoiceError as exc:
        return _preferences_page(
            request, token, error=str(exc), status=400, problem=exc, typed=form
        )
    except InvalidInputError as exc:
        return _preferences_page(request, token, error=str(exc), status=400)
    return RedirectResponse(f"/preferences/{token}?saved=1", status_code=303)


@router.post("/preferences/{token}")
async def save_preferences(request: Request, token: str) -> Response:
    """Save the preferences form, then show it again (POST, redirect, GET)."""
    form = await read_form(request)
    return await run_in_threadpool(_save_preferences, request, token, form)
