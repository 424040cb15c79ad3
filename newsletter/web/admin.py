"""The editor's pages: issues, an issue with its test send, send and its progress, and the preview."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from newsletter.compose import ComposeError, compose
from newsletter.dispatch_types import Progress
from newsletter.preflight import Finding, Preflight, check_issue
from newsletter.publishing import IssueStateError, TestSendFailed
from newsletter.render import TemplateError
from newsletter.services import Services
from newsletter.addresses import InvalidAddress
from newsletter.web.admin_schedule import issue_schedule, next_send
from newsletter.web.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages
from newsletter.web.queries import active_subscribers, issue_detail, list_issues, send_totals

PREVIEW_WIDTHS = (600, 375)  # a desktop client's email column and a phone
REFRESH_SECONDS = 5  # the issue page reloads itself this often while the issue is sending


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def duration(seconds: float) -> str:
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def time_left(progress: Progress) -> str:
    if progress.done == progress.total:
        return "none: nothing is waiting to be sent"
    if progress.issue_status != "sending":
        return f"none while {progress.issue_status}"
    if progress.eta_seconds is None:
        return "unknown: nothing was sent in the last minute"
    return f"about {duration(progress.eta_seconds)}"


def admin_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    # Every route needs a session; state-changing ones also need the CSRF token.
    # IssueNotFound from the publisher (preview.html, test, send) becomes a 404 page in errors.py.
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    # A default rather than an Annotated alias: with postponed annotations FastAPI resolves
    # annotation strings in module globals, where a local alias (or ``auth``) does not exist.
    csrf = Depends(auth.require_csrf)

    def to_issue(issue_id: int, kind: str, text: str) -> Response:
        return pages.flash(RedirectResponse(f"/admin/issues/{issue_id}", status_code=303), kind, text)

    @router.get("")
    def admin_home() -> Response:
        return RedirectResponse("/admin/issues", status_code=303)

    @router.get("/issues")
    def issues(request: Request) -> Response:
        rows = list_issues(services.sessions)
        return pages.render(request, "admin_issues.html", issues=rows, totals=send_totals(services.sessions),
                            next_send=next_send(services))

    @router.post("/issues/compose")
    def compose_week(_: AdminSession = csrf) -> Response:
        try:
            result = compose(services.sessions, services.settings)
        except ComposeError as exc:
            return pages.flash(RedirectResponse("/admin/issues", status_code=303), "error", str(exc))
        if result.created:
            text = f"Composed issue #{result.number} for {result.week} with {result.article_count} articles."
        else:
            text = f"{result.week} already has issue #{result.number}; here it is."
        return to_issue(result.issue_id, "ok", text)

    @router.get("/issues/{issue_id}")
    def issue(request: Request, issue_id: int) -> Response:
        detail = issue_detail(services.sessions, issue_id)
        if detail is None:
            return pages.error(request, 404, "No such issue", f"There is no issue {issue_id}.")
        progress = services.publisher.progress(issue_id)
        try:
            preflight = check_issue(services, issue_id)
        except TemplateError as exc:
            preflight = Preflight(errors=[Finding("template", str(exc))])
        return pages.render(
            request,
            "admin_issue.html",
            issue=detail.row,
            preheader=detail.preheader,
            articles=detail.articles,
            progress=progress,
            status=progress.issue_status,  # read with the counts, so the buttons match them
            time_left=time_left(progress),
            refresh=REFRESH_SECONDS if progress.issue_status == "sending" else None,
            active=active_subscribers(services.sessions),
            schedule=issue_schedule(services, issue_id),
            preflight=preflight,
        )

    @router.get("/issues/{issue_id}/preview")
    def preview(request: Request, issue_id: int) -> Response:
        detail = issue_detail(services.sessions, issue_id)
        if detail is None:
            return pages.error(request, 404, "No such issue", f"There is no issue {issue_id}.")
        # Rendering here first means a broken template shows as this page's error, not in a frame.
        text = services.publisher.preview_text(issue_id)
        return pages.render(request, "admin_preview.html", issue=detail.row, text=text, widths=PREVIEW_WIDTHS)

    @router.get("/issues/{issue_id}/preview.html")
    def preview_html(issue_id: int) -> Response:
        return HTMLResponse(services.publisher.preview_html(issue_id))

    @router.get("/issues/{issue_id}/preview.txt")
    def preview_txt(issue_id: int) -> Response:
        return PlainTextResponse(services.publisher.preview_text(issue_id))

    @router.post("/issues/{issue_id}/test")
    def send_test(issue_id: int, test_address: Annotated[str, Form()] = "", _: AdminSession = csrf) -> Response:
        try:
            if not test_address.strip():
                raise InvalidAddress("enter an address to send the test to")
            services.publisher.send_test(issue_id, test_address, services.backend)
        except (InvalidAddress, TestSendFailed, TemplateError) as exc:
            return to_issue(issue_id, "error", f"Test not sent: {exc}")
        return to_issue(issue_id, "ok", f"Test sent to {test_address.strip()}.")

    @router.post("/issues/{issue_id}/send")
    def send(issue_id: int, force: Annotated[str, Form()] = "", _: AdminSession = csrf) -> Response:
        try:
            result = services.publisher.queue(issue_id, force=bool(force))
        except (IssueStateError, TemplateError) as exc:
            return to_issue(issue_id, "error", f"Not sent: {exc}")
        if result.queued == 0:
            text = "Nobody new to send to: every active subscriber already has this issue queued or sent."
        else:
            text = f"Queued {plural(result.queued, 'delivery', 'deliveries')}; the worker sends them."
        return to_issue(issue_id, "ok", text)

    # IssueStateError (pausing a draft, resuming a sent issue...) is the editor's to read, not a 500.

    @router.post("/issues/{issue_id}/pause")
    def pause(issue_id: int, _: AdminSession = csrf) -> Response:
        try:
            services.publisher.pause(issue_id)
        except IssueStateError as exc:
            return to_issue(issue_id, "error", f"Not paused: {exc}")
        return to_issue(issue_id, "ok", "Paused: the workers stop after the batch they are sending.")

    @router.post("/issues/{issue_id}/resume")
    def resume(issue_id: int, _: AdminSession = csrf) -> Response:
        try:
            services.publisher.resume(issue_id)
        except IssueStateError as exc:
            return to_issue(issue_id, "error", f"Not resumed: {exc}")
        return to_issue(issue_id, "ok", "Resumed: the send goes on where it stopped.")

    @router.post("/issues/{issue_id}/cancel")
    def cancel(issue_id: int, _: AdminSession = csrf) -> Response:
        try:
            skipped = services.publisher.cancel(issue_id)
        except IssueStateError as exc:
            return to_issue(issue_id, "error", f"Not cancelled: {exc}")
        return to_issue(issue_id, "ok", f"Cancelled: {plural(skipped, 'delivery', 'deliveries')} skipped.")

    return router
