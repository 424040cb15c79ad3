"""The editor's CSV import: upload -> preview (layout, mapping, first rows, the full dry-run report)
-> import -> the result report, and the rejected rows as a CSV download.

The upload is kept in a temporary file under the data dir between the preview and the import,
named by a random id that the page carries signed (so a form cannot point at another file); it
is deleted once imported, and any left behind are deleted after a day.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, Response

from newsletter.errors import InvalidInput
from newsletter.readers.csv_formats import ImportFileError
from newsletter.lists.catalog import all_lists, list_by_slug
from newsletter.lists.errors import UnknownList
from newsletter.readers.importer import ImportPreview, ImportReport, import_csv, import_preview
from newsletter.services import Services
from newsletter.readers.subscriptions import ConfirmationNotSent
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

MAX_UPLOAD = 200 * 1024 * 1024
KEEP_SECONDS = 24 * 3600
COPY_BLOCK = 1 << 20


class UploadTooLarge(InvalidInput):
    pass


def admin_import_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    csrf = Depends(auth.require_csrf)
    folder = services.settings.data_dir / "imports"
    refs = URLSafeTimedSerializer(services.settings.secret_key, salt="import-upload")

    def upload_path(upload_id: str) -> Path:
        return folder / f"{upload_id}.csv"

    def rejected_path(upload_id: str) -> Path:
        return folder / f"{upload_id}.rejected.csv"

    def read_ref(ref: str) -> tuple[str, str] | None:
        """The upload's id and file name from a signed reference; None when forged or expired."""
        try:
            value = refs.loads(ref, max_age=KEEP_SECONDS)
        except BadSignature:
            return None
        match value:
            case [str(upload_id), str(file_name)] if upload_id.isalnum():
                return upload_id, file_name
        return None

    def clean_old() -> None:
        cutoff = time.time() - KEEP_SECONDS
        for path in folder.glob("*.csv"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass  # another request removed it

    def form(request: Request, status_code: int = 200, error: str = "") -> Response:
        return pages.render(request, "admin_import.html", status_code, stage="upload", errors={"file": error},
                            max_mb=MAX_UPLOAD // (1024 * 1024))

    def save(upload: UploadFile, target: Path) -> None:
        written = 0
        with target.open("wb") as out:
            while block := upload.file.read(COPY_BLOCK):
                written += len(block)
                if written > MAX_UPLOAD:
                    raise UploadTooLarge()
                out.write(block)

    @router.get("/import")
    def upload_form(request: Request) -> Response:
        return form(request)

    @router.post("/import")
    async def upload(request: Request) -> Response:
        too_big = f"The file is larger than {MAX_UPLOAD // (1024 * 1024)} MB; split it and import the parts."
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_UPLOAD + 64 * 1024:
            auth.require(request)  # the CSRF token is in the body we refuse to read
            return form(request, 413, too_big)
        data = await request.form(max_files=1, max_fields=10)
        token = data.get("csrf_token")
        auth.require_csrf(request, token if isinstance(token, str) else "")
        upload = data.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return form(request, 400, "Choose a CSV file to upload.")
        folder.mkdir(parents=True, exist_ok=True)
        await run_in_threadpool(clean_old)
        upload_id = secrets.token_hex(16)
        path = upload_path(upload_id)
        try:
            await run_in_threadpool(save, upload, path)
        except UploadTooLarge:
            path.unlink(missing_ok=True)
            return form(request, 413, too_big)
        file_name = Path(upload.filename).name[:200]

        def preview() -> ImportPreview:
            with rejected_path(upload_id).open("w", newline="", encoding="utf-8") as out:
                return import_preview(services.sessions, path, services.suppression, rejected_out=out,
                                      file_name=file_name)

        try:
            result = await run_in_threadpool(preview)
        except ImportFileError as exc:
            path.unlink(missing_ok=True)
            rejected_path(upload_id).unlink(missing_ok=True)
            return form(request, 400, f"{file_name} cannot be imported: {exc}.")
        return pages.render(request, "admin_import.html", stage="preview", preview=result, report=result.report,
                            ref=refs.dumps([upload_id, file_name]), lists=all_lists(services.sessions))

    @router.post("/import/run")
    def run(
        request: Request,
        ref: Annotated[str, Form()] = "",
        opted_in: Annotated[str, Form()] = "",
        list_slug: Annotated[str, Form(alias="list", max_length=100)] = "",
        _: AdminSession = csrf,
    ) -> Response:
        try:
            chosen = list_by_slug(services.sessions, list_slug.strip() or None)
        except UnknownList as exc:
            return form(request, 400, f"Nothing was imported: {exc}.")
        found = read_ref(ref)
        if found is None or not upload_path(found[0]).exists():
            return form(request, 400, "That upload has expired or was already imported; upload the file again.")
        upload_id, file_name = found
        path = upload_path(upload_id)
        with rejected_path(upload_id).open("w", newline="", encoding="utf-8") as out:
            try:
                report = import_csv(services.sessions, path, confirmed=bool(opted_in),
                                    suppression=services.suppression, rejected_out=out,
                                    file_name=file_name, list_id=chosen.id)
            except ImportFileError as exc:
                return form(request, 400, f"The file cannot be imported: {exc}.")
            finally:
                path.unlink(missing_ok=True)
        mailed, failed = confirm_all(report, chosen.id)
        return pages.render(request, "admin_import.html", stage="result", report=report, mailed=mailed,
                            failed=failed, ref=ref, imported_to=chosen.name)

    def confirm_all(report: ImportReport, list_id: int) -> tuple[int, str]:
        mailed = 0
        for subscriber_id in report.pending:
            try:
                mailed += services.subscriptions.send_confirmation(subscriber_id, list_id=list_id)
            except ConfirmationNotSent as exc:
                return mailed, str(exc)
        return mailed, ""

    @router.get("/import/rejected.csv")
    def rejected(request: Request, ref: str = "") -> Response:
        found = read_ref(ref)
        if found is None or not rejected_path(found[0]).exists():
            return pages.error(request, 404, "No such report", "That report has expired; upload the file again.")
        return FileResponse(rejected_path(found[0]), media_type="text/csv; charset=utf-8",
                            filename=f"rejected-rows-{Path(found[1]).stem[:100] or 'import'}.csv")

    return router

