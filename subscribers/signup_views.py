"""Public sign-up pages, the JSON sign-up endpoint and the confirmation pages (a router).

Every link from an email lands on a GET that changes nothing and shows a button; the
change happens on POST. That keeps mail scanners, which open every link, from
confirming anyone. The unsubscribe and preferences pages are in ``unsubscribe_views``.
Every page that answers GET also answers HEAD (link checkers and proxies send it).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from newsletter import schemahints as h
from newsletter.content.edition import READER_CADENCES, Cadence
from newsletter.errors import InvalidInputError
from newsletter.i18n import catalog_language, gettext_for, ngettext_for
from newsletter.parsing import WEEKDAYS
from newsletter.runtime import Runtime
from newsletter.web.deps import runtime_of
from newsletter.web.pages import render_page
from subscribers import services
from subscribers.addresses import normalise_email
from subscribers.choices import language_options, offered_days, offered_topics, zone_options
from subscribers.confirmation import EmailConfirmer
from subscribers.forms import FormValues, read_form
from subscribers.models import ConsentSource, SubscriptionState
from subscribers.ratelimit import SignupLimits, check_signup
from subscribers.services import SignupOutcome, SignupRequest
from subscribers.tokens import Purpose
from subscribers.view_support import PAGE_METHODS, day_labels, evidence_of, links_of, read_token
from subscribers.welcome import EmailWelcomer

router = APIRouter()
CADENCES = [cadence.value for cadence in READER_CADENCES]


def _signup(runtime: Runtime, session: Session, request: SignupRequest) -> SignupOutcome:
    settings = runtime.settings
    email = normalise_email(request.email)
    limits = SignupLimits(
        settings.signup_limit_per_ip, settings.signup_limit_per_address, settings.signup_window
    )
    check_signup(session, ip=request.evidence.ip, email=email, limits=limits)
    confirmer = EmailConfirmer(
        runtime.sender,
        links_of(runtime),
        expires=settings.confirm_token_max_age,
        source=request.evidence.source,
    )
    result = services.sign_up(
        session,
        request,
        confirmer=confirmer,
        policy=_policy(runtime),
        welcomer=_welcomer(runtime),
    )
    return result.outcome


def _policy(runtime: Runtime) -> services.OptInPolicy:
    settings = runtime.settings
    return services.OptInPolicy(
        settings.confirm_resend_interval, settings.pending_expiry, settings.welcome_window
    )


def _welcomer(runtime: Runtime) -> EmailWelcomer:
    """Sends the welcome after the confirming commit (the tick sends any left behind)."""
    return EmailWelcomer(runtime.sender, links_of(runtime))


def _signup_committed(runtime: Runtime, request: SignupRequest) -> None:
    """Sign up in a transaction of its own, once more if a racing twin got there first.

    Two sign-ups of one new address at once both insert it; the loser's unique-key error
    rolls its transaction back (nothing was emailed yet), and the retry finds the
    winner's pending sign-up, so the answer is the usual "check your inbox".
    """
    try:
        with runtime.database.session() as session:
            _signup(runtime, session, request)
    except IntegrityError:
        with runtime.database.session() as session:
            _signup(runtime, session, request)


def _signup_message(runtime: Runtime, email: str, double_opt_in: bool, language: str) -> str:
    if not double_opt_in:
        message = gettext_for(
            language, "%(email)s is subscribed. The next edition will reach your inbox."
        )
        return message % {"email": email}
    hours = int(runtime.settings.confirm_token_max_age.total_seconds() // 3600)
    message = ngettext_for(
        language,
        "If %(email)s can receive email, a confirmation link is on its way. "
        "Open it within %(hours)s hour to complete your subscription.",
        "If %(email)s can receive email, a confirmation link is on its way. "
        "Open it within %(hours)s hours to complete your subscription.",
        hours,
    )
    return message % {"email": email, "hours": hours}


# -- sign-up ------------------------------------------------------------------------


def _subscribe_page(
    runtime: Runtime, slug: str, values: FormValues | None = None, error: str = ""
) -> Response:
    with runtime.database.session() as session:
        mailing_list = services.get_list(session, slug)
        publication = mailing_list.publication
        days = offered_days(publication)
        zone = values.first("timezone") if values else ""
        language = publication.language
        title = gettext_for(language, "Subscribe to %(list)s") % {"list": mailing_list.name}
        context: dict[str, Any] = {
            "language": language,
            "page_title": title,
            "site_name": publication.name,
            "list_name": mailing_list.name,
            "action": f"/subscribe/{mailing_list.slug}",
            "topics": offered_topics(session, publication),
            "error": reader_error(language, error),
            "error_field": error.split(":", 1)[0].strip() if error else "",
            "zones": zone_options(zone),
            "publication_zone": publication.timezone,
            "local_delivery": publication.local_delivery,
            "send_time": publication.send_time.strftime("%H:%M"),
            "weekly_days": day_labels(days, language),
            "languages": language_options(publication),
            "values": {
                "email": values.first("email") if values else "",
                # The page's own language until the reader picks another.
                "locale": values.first("locale") if values else language,
                "name": values.first("name") if values else "",
                "topics": values.all("topics") if values else [],
                "timezone": zone,
                "cadence": values.first("cadence") if values else Cadence.DAILY.value,
                "weekly_day": values.first("weekly_day") if values else "",
                "alerts": bool(values.first("alerts")) if values else False,
                "alert_topics": values.all("alert_topics") if values else [],
            },
        }
    return render_page("subscribers/subscribe.html", status=400 if error else 200, **context)


@router.api_route("/subscribe/{slug}", methods=PAGE_METHODS)
def subscribe_form(request: Request, slug: str) -> Response:
    """The sign-up form of a list (or of a publication's default list)."""
    return _subscribe_page(runtime_of(request), slug)


def _subscribe_submit(request: Request, slug: str, form: FormValues) -> Response:
    runtime = runtime_of(request)
    email = form.first("email").strip()
    if form.first("website"):
        # A bot filled the hidden field: answer like a success, do nothing.
        return _check_inbox(runtime, slug, email)
    cadence = form.first("cadence")
    signup = SignupRequest(
        email=email,
        list_slug=slug,
        evidence=evidence_of(request, ConsentSource.WEB),
        name=form.first("name"),
        locale=form.first("locale"),
        timezone=form.first("timezone"),
        topics=tuple(form.all("topics")),
        cadence=cadence,
        # The day select is always sent; it only counts for a weekly choice.
        weekly_day=form.first("weekly_day") if cadence.strip().lower() == "weekly" else "",
        alerts=bool(form.first("alerts")),
        alert_topics=tuple(form.all("alert_topics")),
    )
    try:
        _signup_committed(runtime, signup)
    except InvalidInputError as exc:
        return _subscribe_page(runtime, slug, form, str(exc))
    return _check_inbox(runtime, slug, email)


def reader_error(language: str, error: str) -> str:
    """What a refused sign-up form says, in the page's language.

    The refusal itself (``InvalidInputError``) names the field and the rule in English,
    the words the API and the command line share. An English page shows it as it is;
    a page in another language says, in its language, what to do about the field,
    which the form also marks.
    """
    if not error or catalog_language(language) == "en":
        return error
    if error.split(":", 1)[0].strip() == "email":
        return gettext_for(
            language,
            "Enter an email address that can receive mail, such as name@example.org.",
        )
    return gettext_for(language, "Please check the marked field and try again.")


def _check_inbox(runtime: Runtime, slug: str, email: str) -> Response:
    with runtime.database.session() as session:
        mailing_list = services.get_list(session, slug)
        double = mailing_list.double_opt_in
        name, site = mailing_list.name, mailing_list.publication.name
        language = mailing_list.publication.language
    if double:
        title = gettext_for(language, "Check your inbox")
    else:
        title = gettext_for(language, "Subscribed to %(list)s") % {"list": name}
    return render_page(
        "subscribers/check_inbox.html",
        language=language,
        page_title=title,
        site_name=site,
        message=_signup_message(runtime, email, double, language),
    )


@router.post("/subscribe/{slug}")
async def subscribe(request: Request, slug: str) -> Response:
    """Handle the sign-up form; the answer is the same whether or not the address is known."""
    form = await read_form(request)
    return await run_in_threadpool(_subscribe_submit, request, slug, form)


class SubscribeIn(BaseModel):
    """The JSON sign-up body; ``website`` is the honeypot and must stay empty."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # The keywords state the sign-up's rules in the OpenAPI document (schemahints); the
    # document served adds the deployment's lists, their topics and weekly days.
    email: Annotated[str, h.ADDRESS] = Field(max_length=320)
    list_slug: str = Field(alias="list", min_length=1, max_length=64)
    name: Annotated[str, h.text(one_line=True)] = Field(default="", max_length=200)
    locale: Annotated[str, h.language(blank=True)] = Field(default="", max_length=16)
    timezone: Annotated[str, h.zone(blank=True)] = Field(default="", max_length=64)
    topics: list[str] = Field(default_factory=list, max_length=50)
    cadence: Annotated[str, h.Keywords(enum=["", *CADENCES])] = Field(default="", max_length=20)
    weekly_day: Annotated[str, h.Keywords(enum=["", *WEEKDAYS])] = Field(default="", max_length=20)
    alerts: bool = Field(
        default=False, strict=True, description="Also receive alerts (the digest always)"
    )
    alert_topics: list[str] = Field(
        default_factory=list, max_length=50, description="Alerts on these topics only (empty: all)"
    )
    website: str = Field(default="", max_length=200)


def _api_subscribe(request: Request, body: SubscribeIn) -> Response:
    runtime = runtime_of(request)
    double = True
    if not body.website:
        signup = SignupRequest(
            email=body.email,
            list_slug=body.list_slug,
            evidence=evidence_of(request, ConsentSource.API),
            name=body.name,
            locale=body.locale,
            timezone=body.timezone,
            topics=tuple(body.topics),
            cadence=body.cadence,
            weekly_day=body.weekly_day,
            alerts=body.alerts,
            alert_topics=tuple(body.alert_topics),
        )
        try:
            _signup_committed(runtime, signup)
        except InvalidInputError as exc:
            raise _field_error(exc) from None
        with runtime.database.session() as session:
            double = services.get_list(session, body.list_slug).double_opt_in
    message = _signup_message(runtime, body.email, double, "en")
    status = "pending" if double else "subscribed"
    return JSONResponse({"status": status, "message": message}, status_code=202)


API_FIELDS = frozenset(SubscribeIn.model_fields) | {"list", "lists"}


def _field_error(error: InvalidInputError) -> Exception:
    """A refused value of the JSON body as a 422 naming its field, like FastAPI's own.

    A message that names no field of the body (a rare whole-request refusal) stays
    the 400 it was.
    """
    field, _, message = str(error).partition(":")
    field = field.strip()
    if not message or field not in API_FIELDS:
        return error
    detail = {"loc": ("body", field), "msg": message.strip(), "type": "value_error"}
    return RequestValidationError([detail])


def _parse_body(raw: bytes) -> SubscribeIn:
    """The JSON body as a ``SubscribeIn``; undecodable JSON is a 400 that says so."""
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        where = (
            f" (line {exc.lineno}, column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise InvalidInputError(f"body: not valid JSON{where}; send a JSON object") from None
    try:
        return SubscribeIn.model_validate(data)
    except ValidationError as exc:
        # Reported like FastAPI's own body validation: one entry per field.
        raise RequestValidationError(exc.errors()) from None


@router.post("/api/subscribe")
async def api_subscribe(request: Request) -> Response:
    """JSON sign-up: 202 with a message, or a 4xx ``{"error": ...}``."""
    body = _parse_body(await request.body())
    return await run_in_threadpool(_api_subscribe, request, body)


# -- confirmation -------------------------------------------------------------------


@router.api_route("/confirm/{token}", methods=PAGE_METHODS)
def confirm_page(request: Request, token: str) -> Response:
    """Show the confirm button (changes nothing)."""
    runtime = runtime_of(request)
    subject = read_token(runtime, Purpose.CONFIRM, token)
    with runtime.database.session() as session:
        subscription = services.subscription_for(session, subject)
        mailing_list = subscription.mailing_list
        language = mailing_list.publication.language
        context: dict[str, Any] = {
            "site_name": mailing_list.publication.name,
            "list_name": mailing_list.name,
            "language": language,
        }
        if subscription.state is SubscriptionState.CONFIRMED:
            preferences = links_of(runtime).preferences_url(subject.subscriber_id, subject.list_id)
            return render_page(
                "subscribers/confirmed.html",
                page_title=gettext_for(language, "You are subscribed"),
                preferences_url=preferences,
                has_topics=bool(offered_topics(session, mailing_list.publication)),
                **context,
            )
        email = subscription.subscriber.email
    return render_page(
        "subscribers/confirm.html",
        page_title=gettext_for(language, "Confirm your subscription"),
        email=email,
        action=f"/confirm/{token}",
        **context,
    )


@router.post("/confirm/{token}")
def confirm(request: Request, token: str) -> Response:
    """Confirm the subscription the token names."""
    runtime = runtime_of(request)
    subject = read_token(runtime, Purpose.CONFIRM, token)
    with runtime.database.session() as session:
        subscription = services.confirm(
            session,
            subject,
            evidence_of(request, ConsentSource.EMAIL),
            policy=_policy(runtime),
            welcomer=_welcomer(runtime),
        )
        mailing_list = subscription.mailing_list
        site, name = mailing_list.publication.name, mailing_list.name
        expired = subscription.state is SubscriptionState.EXPIRED
        has_topics = bool(offered_topics(session, mailing_list.publication))
        subscribe_url = f"{runtime.settings.base_url.rstrip('/')}/subscribe/{mailing_list.slug}"
        language = mailing_list.publication.language
    if expired:
        # Rendered after the block commits, so the expiry and its consent row are kept.
        message = gettext_for(
            language,
            "The confirmation link for %(list)s has expired, so you are not subscribed. "
            "Please sign up again at %(url)s.",
        )
        return render_page(
            "error.html",
            status=410,
            language=language,
            page_title=gettext_for(language, "This sign-up has expired"),
            message=message % {"list": name, "url": subscribe_url},
            code=410,
        )
    return render_page(
        "subscribers/confirmed.html",
        language=language,
        page_title=gettext_for(language, "You are subscribed"),
        site_name=site,
        list_name=name,
        preferences_url=links_of(runtime).preferences_url(subject.subscriber_id, subject.list_id),
        has_topics=has_topics,
    )
