"""Admin pages for readers: search, a reader's page and its actions.

Only admins see personal data. Every action is a POST with the session's CSRF token,
runs in one transaction, leaves an audit entry and redirects to the reader's page
with a notice; a refused action re-renders the page with the reason in place (and
the note or typed address kept) and changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from newsletter.backoffice import readers
from newsletter.backoffice.pages import redirect, render
from newsletter.editors import services as accounts
from newsletter.editors.auth import Principal, client_ip, form_user, page_user
from newsletter.editors.models import Role
from newsletter.errors import InvalidInputError, NotFoundError, TransitionError
from newsletter.web.deps import Id, runtime_of
from subscribers.addresses import normalise_email
from subscribers.confirmation import EmailConfirmer
from subscribers.lists import all_lists
from subscribers.models import ConsentSource, Subscriber, SubscriptionState
from subscribers.view_support import links_of

router = APIRouter()

Admin = Annotated[Principal, Depends(page_user(Role.ADMIN))]
AdminForm = Annotated[Principal, Depends(form_user(Role.ADMIN))]
Search = Annotated[str, Query(max_length=readers.MAX_QUERY)]


@router.get("/subscribers", response_class=HTMLResponse)
def search_page(
    request: Request,
    user: Admin,
    q: Search = "",
    list_slug: Annotated[str, Query(alias="list", max_length=64)] = "",
    state: Annotated[str, Query(max_length=32)] = "",
    page: Annotated[str, Query(max_length=12)] = "1",
    email: Search = "",
) -> Response:
    """Search readers by part of an address or a name, on a list, in a state; paged.

    ``?email=`` (the old exact look-up) opens that reader's page when there is one.
    """
    database = runtime_of(request).database
    if email.strip():
        with database.session() as db:
            reader_id = _reader_with(db, email)
        if reader_id is not None:
            return redirect(f"/editor/subscribers/{reader_id}")
        q = q or email
    error = ""
    results: readers.ReaderPage | None = None
    with database.session() as db:
        lists = [info.slug for info in all_lists(db)]
        try:
            query = readers.clean_query(q, list_slug, state, page)
            results = readers.search(db, query)
        except InvalidInputError as exc:
            error = str(exc)
        if q.strip():
            accounts.audit(db, user.name, "subscriber.search", ip=client_ip(request))
    return render(
        request,
        "subscribers.html",
        user=user,
        section="subscribers",
        page_title="Subscribers",
        status=400 if error else 200,
        form={"q": q, "list": list_slug, "state": state},
        lists=lists,
        states=[s.value for s in SubscriptionState],
        results=results,
        error=error,
    )


def _reader_with(db: Any, email: str) -> int | None:
    try:
        address = normalise_email(email)
    except InvalidInputError:
        return None
    subscriber = db.query(Subscriber).filter(Subscriber.email == address).one_or_none()
    return subscriber.id if subscriber is not None else None


def _reader_page(
    request: Request,
    user: Principal,
    reader_id: int,
    *,
    error: str = "",
    status: int = 200,
    kept: dict[str, str] | None = None,
) -> Response:
    runtime = runtime_of(request)
    with runtime.database.session() as db:
        reader = readers.reader_record(
            db, reader_id, resend_interval=runtime.settings.confirm_resend_interval
        )
        if not error:
            accounts.audit(db, user.name, "subscriber.view", str(reader_id), ip=client_ip(request))
    return render(
        request,
        "reader.html",
        user=user,
        section="subscribers",
        page_title=reader.email,
        reader=reader,
        error=error,
        kept=kept or {},
        status=status,
    )


@router.get("/subscribers/{reader_id}", response_class=HTMLResponse)
def reader_page(request: Request, user: Admin, reader_id: Id) -> Response:
    """One reader: subscriptions, consent record, suppression, deliveries, actions."""
    return _reader_page(request, user, reader_id)


def _act(
    request: Request,
    user: Principal,
    reader_id: int,
    action: str,
    done: str,
    run: Any,
    kept: dict[str, str] | None = None,
) -> Response:
    """Run one action in its own transaction; its notice, or the page with the reason."""
    try:
        with runtime_of(request).database.session() as db:
            detail = run(db) or {}
            accounts.audit(db, user.name, action, str(reader_id), ip=client_ip(request), **detail)
    except (InvalidInputError, TransitionError) as exc:
        status = 409 if isinstance(exc, TransitionError) else 400
        return _reader_page(request, user, reader_id, error=str(exc), status=status, kept=kept)
    except NotFoundError:
        return redirect("/editor/subscribers", "reader-gone")
    if done == "erased":
        return redirect("/editor/subscribers", done)
    return redirect(f"/editor/subscribers/{reader_id}", done)


@router.post("/subscribers/{reader_id}/subscriptions/{subscription_id}/unsubscribe")
def unsubscribe(request: Request, user: AdminForm, reader_id: Id, subscription_id: Id) -> Response:
    """Take the reader off one list."""
    evidence = readers.back_office_evidence(user.name, client_ip(request))

    def run(db: Any) -> dict[str, str]:
        item = readers.unsubscribe_reader(db, reader_id, subscription_id, evidence)
        return {"list": item.mailing_list.slug}

    return _act(request, user, reader_id, "subscriber.unsubscribe", "reader-unsubscribed", run)


@router.post("/subscribers/{reader_id}/subscriptions/{subscription_id}/resend")
def resend(request: Request, user: AdminForm, reader_id: Id, subscription_id: Id) -> Response:
    """Send a pending sign-up's confirmation email again."""
    runtime = runtime_of(request)
    confirmer = EmailConfirmer(
        runtime.sender,
        links_of(runtime),
        expires=runtime.settings.confirm_token_max_age,
        source=ConsentSource.BACK_OFFICE,
    )

    def run(db: Any) -> dict[str, str]:
        item = readers.resend_confirmation(
            db,
            reader_id,
            subscription_id,
            confirmer,
            resend_interval=runtime.settings.confirm_resend_interval,
        )
        return {"list": item.mailing_list.slug}

    return _act(request, user, reader_id, "subscriber.resend_confirmation", "reader-resent", run)


@router.post("/subscribers/{reader_id}/suppress")
def suppress(
    request: Request,
    user: AdminForm,
    reader_id: Id,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Never mail this reader again."""

    def run(db: Any) -> None:
        readers.suppress_reader(db, reader_id, note)

    return _act(
        request, user, reader_id, "subscriber.suppress", "reader-suppressed", run, {"note": note}
    )


@router.post("/subscribers/{reader_id}/lift")
def lift(request: Request, user: AdminForm, reader_id: Id) -> Response:
    """Lift a suppression an admin added."""

    def run(db: Any) -> None:
        readers.lift_reader(db, reader_id)

    return _act(request, user, reader_id, "subscriber.lift_suppression", "reader-lifted", run)


@router.post("/subscribers/{reader_id}/erase")
def erase(
    request: Request,
    user: AdminForm,
    reader_id: Id,
    typed: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Erase the reader's personal data (they stay suppressed, by hash only)."""

    def run(db: Any) -> None:
        readers.erase_reader(db, reader_id, typed)

    return _act(request, user, reader_id, "subscriber.erase", "erased", run, {"typed": typed})
