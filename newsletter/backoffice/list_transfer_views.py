"""Admin pages to import a CSV into a list (with progress and a row-numbered report) and
to export a list as CSV, the same format as ``newsletter subscribers import/export``.

An upload is saved under the data folder, then imported by a thread of this process in
one transaction (``csvio.import_csv``): the job page shows the bytes read so far and,
once committed, the counts and every refused row by number. A failed or interrupted
import wrote nothing. Exports stream from a spooled file, so a large list does not sit
in memory whole.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO, cast

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from newsletter.backoffice.pages import redirect, render
from newsletter.db import Database
from newsletter.editors import services as accounts
from newsletter.editors.auth import Principal, client_ip, form_user, page_user
from newsletter.editors.models import Role
from newsletter.errors import InvalidInputError, UserError
from newsletter.limits import Limits
from newsletter.runtime import Runtime
from newsletter.web.deps import Id, runtime_of
from subscribers import csvio, import_jobs
from subscribers.confirmation import EmailConfirmer
from subscribers.models import ConsentSource, SubscriptionState
from subscribers.services import get_list
from subscribers.view_support import links_of

log = logging.getLogger(__name__)
router = APIRouter()

Admin = Annotated[Principal, Depends(page_user(Role.ADMIN))]
AdminForm = Annotated[Principal, Depends(form_user(Role.ADMIN))]
PROGRESS_EVERY = 0.5  # seconds between progress writes
CHUNK = 1 << 16

# Bytes read by the imports this process runs, by job id: on SQLite the import's own
# transaction holds the write lock, so its progress is kept here rather than written.
_RUNNING: dict[int, int] = {}
_LOCK = threading.Lock()


def _import_page(
    request: Request,
    user: Principal,
    list_slug: str,
    *,
    error: str = "",
    typed: dict[str, Any] | None = None,
) -> Response:
    with runtime_of(request).database.session() as db:
        mailing_list = get_list(db, list_slug)
        name, publication = mailing_list.name, mailing_list.publication.name
    return render(
        request,
        "import.html",
        user=user,
        section="lists",
        page_title=f"Import into {name}",
        list_slug=list_slug,
        list_name=name,
        publication=publication,
        limits=runtime_of(request).settings.limits,
        states=[s.value for s in SubscriptionState],
        error=error,
        typed=typed or {"confirmed": False, "consent": ""},
        status=400 if error else 200,
    )


@router.get("/lists/{list_slug}/import", response_class=HTMLResponse)
def import_form(request: Request, user: Admin, list_slug: str) -> Response:
    """The upload form, with the file format and the limits."""
    return _import_page(request, user, list_slug)


def _save_upload(upload: UploadFile, folder: Path, limit: int) -> tuple[Path, int]:
    """The upload copied into ``folder``; refused past ``limit`` bytes, naming the field."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=folder, suffix=".csv", delete=False)  # noqa: SIM115
    path, size = Path(handle.name), 0
    try:
        with handle:
            while chunk := upload.file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise InvalidInputError(
                        f"File: larger than the {limit:,}-byte limit "
                        "(setting NEWSLETTER_MAX_CSV_BYTES)"
                    )
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size


@router.post("/lists/{list_slug}/import")
def start_import(
    request: Request,
    user: AdminForm,
    list_slug: str,
    file: Annotated[UploadFile | None, File()] = None,
    confirmed: Annotated[str, Form(max_length=3)] = "",
    consent: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Save the upload and start importing it; the job page follows its progress."""
    runtime = runtime_of(request)
    typed = {"confirmed": confirmed == "yes", "consent": consent}
    try:
        if file is None or not file.filename:
            raise InvalidInputError("File: choose a CSV file to import")
        if typed["confirmed"] and not consent.strip():
            raise InvalidInputError(
                "How they agreed: say how these people agreed to receive it (required when "
                "they are imported as confirmed)"
            )
        with runtime.database.session() as db:
            get_list(db, list_slug)  # an unknown list is a 404 before the upload is kept
        folder = runtime.settings.data_dir / "imports"
        path, size = _save_upload(file, folder, runtime.settings.limits.csv_bytes)
    except InvalidInputError as exc:
        return _import_page(request, user, list_slug, error=str(exc), typed=typed)
    with runtime.database.session() as db:
        job = import_jobs.start_job(
            db,
            list_slug,
            file.filename,
            confirmed=bool(typed["confirmed"]),
            actor=user.name,
            size=size,
        )
        job_id = job.id
        accounts.audit(
            db, user.name, "list.import", list_slug, ip=client_ip(request), job=job_id, bytes=size
        )
    with _LOCK:
        _RUNNING[job_id] = 0
    work = _Import(runtime, job_id, path, list_slug, bool(typed["confirmed"]), consent)
    threading.Thread(target=work.run, name=f"import-{job_id}", daemon=True).start()
    return redirect(f"/editor/imports/{job_id}")


class _Import:
    """One import, run by a thread: the CSV in one transaction, the job row beside it."""

    def __init__(
        self,
        runtime: Runtime,
        job_id: int,
        path: Path,
        list_slug: str,
        confirmed: bool,
        consent: str,
    ) -> None:
        self.database: Database = runtime.database
        self.limits: Limits = runtime.settings.limits
        self.job_id, self.path, self.list_slug = job_id, path, list_slug
        self.confirmed, self.consent = confirmed, consent
        self.confirmer = (
            None
            if confirmed
            else EmailConfirmer(
                runtime.sender,
                links_of(runtime),
                expires=runtime.settings.confirm_token_max_age,
                source=ConsentSource.IMPORT,
            )
        )
        self.written = 0.0
        self.writes_progress = self.database.engine.dialect.name != "sqlite"

    def progress(self, done: int, _total: int) -> None:
        with _LOCK:
            _RUNNING[self.job_id] = done
        now = time.monotonic()
        if self.writes_progress and now - self.written >= PROGRESS_EVERY:
            self.written = now
            with self.database.session() as db:
                import_jobs.record_progress(db, self.job_id, done)

    def run(self) -> None:
        try:
            with self.database.session() as db:
                report = csvio.import_csv(
                    db,
                    self.path,
                    list_slug=self.list_slug,
                    confirmed=self.confirmed,
                    consent=self.consent,
                    confirmer=self.confirmer,
                    progress=self.progress,
                    limits=self.limits,
                )
            with self.database.session() as db:
                import_jobs.finish(db, self.job_id, report)
        except UserError as exc:
            self._failed(str(exc))
        except Exception:
            log.exception("import %s stopped", self.job_id)
            self._failed("the import stopped on an unexpected error (see the log)")
        finally:
            self.path.unlink(missing_ok=True)
            with _LOCK:
                _RUNNING.pop(self.job_id, None)

    def _failed(self, error: str) -> None:
        with self.database.session() as db:
            import_jobs.fail(db, self.job_id, error)


@router.get("/imports/{job_id}", response_class=HTMLResponse)
def import_status(request: Request, user: Admin, job_id: Id) -> Response:
    """How far an import got; once done, its counts and refused rows by number."""
    with runtime_of(request).database.session() as db:
        job = import_jobs.get_job(db, job_id)
        with _LOCK:
            here = _RUNNING.get(job_id)
        running = job.state is import_jobs.JobState.RUNNING
        view = {
            "id": job.id,
            "list_slug": job.list_slug,
            "filename": job.filename,
            "state": job.state.value,
            "running": running and (here is not None or not import_jobs.interrupted(job)),
            "interrupted": running and here is None and import_jobs.interrupted(job),
            "done": max(job.bytes_done, here or 0),
            "total": job.bytes_total,
            "report": job.report,
            "error": job.error,
            "actor": job.actor,
        }
    return render(
        request,
        "import_job.html",
        user=user,
        section="lists",
        page_title=f"Import {job_id}",
        job=view,
    )


@router.get("/lists/{list_slug}/export.csv")
def export(
    request: Request,
    user: Admin,
    list_slug: str,
    state: Annotated[list[str] | None, Query(max_length=32)] = None,
) -> Response:
    """The list's readers (confirmed, or the states asked for) as CSV in the import format."""
    try:
        states = [SubscriptionState(value) for value in state or ["confirmed"]]
    except ValueError:
        names = ", ".join(s.value for s in SubscriptionState)
        raise InvalidInputError(f"state: choose among {names}") from None
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", newline="")  # noqa: SIM115
    with runtime_of(request).database.session() as db:
        count = csvio.export_csv(db, list_slug, cast(TextIO, spool), states=states)
        accounts.audit(db, user.name, "list.export", list_slug, ip=client_ip(request), rows=count)
    spool.seek(0)

    def chunks() -> Iterator[str]:
        with spool:
            while piece := spool.read(CHUNK):
                yield piece

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{list_slug}.csv"',
            "Cache-Control": "no-store",
        },
    )
