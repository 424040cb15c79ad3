"""The editor's pages: the issues list (with figures), a new draft, the preview page, and send (asked
first on its own page: the audience named, preflight errors shown), the send's progress as JSON for
editor.js, pause, resume and cancel. The issue page itself and its editing are in admin/editor.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

from newsletter.issues.compose import ComposeError, compose
from newsletter.issues.figures import issue_figures
from newsletter.issues.list_profile import load_profile
from newsletter.issues.editor import InvalidIssueEdit, create_issue
from newsletter.issues.preflight import check_issue
from newsletter.audience.errors import UnknownSegment
from newsletter.issues.publishing import IssueStateError
from newsletter.render.issue import TemplateError
from newsletter.services import Services
from newsletter.web.admin.editor import PREVIEW_WIDTHS, SENDABLE, dark_variant, plural, time_left, with_prompts
from newsletter.web.admin.schedule import next_send
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages
from newsletter.issues.listing import send_count, issue_detail, list_issues, send_totals


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

    def issues_page(request: Request, status_code: int = 200, errors: dict[str, str] | None = None,
                    subject: str = "") -> Response:
        rows = list_issues(services.sessions)
        totals = send_totals(services.sessions)
        # Figures only for issues with deliveries: the rest have none to show.
        figures = {row.id: issue_figures(services.sessions, row.id, attribution=False) for row in rows if row.id in totals}
        return pages.render(request, "admin_issues.html", status_code, issues=rows, figures=figures,
                            next_send=next_send(services), errors=errors or {}, subject=subject)

    @router.get("/issues")
    def issues(request: Request) -> Response:
        return issues_page(request)

    @router.post("/issues/new")
    def new_issue(request: Request, subject: Annotated[str, Form()] = "", _: AdminSession = csrf) -> Response:
        """An empty draft outside the weekly cycle; its articles are added on its page."""
        try:
            issue_id = create_issue(services.sessions, services.settings, subject, [])
        except InvalidIssueEdit as exc:
            return issues_page(request, 400, exc.errors, subject)
        return to_issue(issue_id, "ok", "New draft created: add its articles below.")

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

    @router.get("/issues/{issue_id}/preview")
    def preview(request: Request, issue_id: int) -> Response:
        detail = issue_detail(services.sessions, issue_id)
        if detail is None:
            return pages.error(request, 404, "No such issue", f"There is no issue {issue_id}.")
        # Rendering here first means a broken template shows as this page's error, not in a frame.
        text = services.publisher.preview_text(issue_id)
        return pages.render(request, "admin_preview.html", issue=detail.row, text=text, widths=PREVIEW_WIDTHS)

    @router.get("/issues/{issue_id}/preview.html")
    def preview_html(issue_id: int, dark: bool = False) -> Response:
        html = services.publisher.preview_html(issue_id)
        html = with_prompts(html, load_profile(services.sessions, services.settings).postal_address)
        return HTMLResponse(dark_variant(html) if dark else html)

    @router.get("/issues/{issue_id}/preview.txt")
    def preview_txt(issue_id: int) -> Response:
        return PlainTextResponse(services.publisher.preview_text(issue_id))

    @router.get("/issues/{issue_id}/send")
    def confirm_send(request: Request, issue_id: int, segment: int | None = None) -> Response:
        """The step before sending: to whom (everyone or a segment), how many, and any preflight
        error, with the one button."""
        detail = issue_detail(services.sessions, issue_id)
        if detail is None:
            return pages.error(request, 404, "No such issue", f"There is no issue {issue_id}.")
        if detail.row.status not in SENDABLE:
            return to_issue(issue_id, "error", f"Not sent: this issue is {detail.row.status}; an issue is sent once.")
        segments = services.audience.segments()
        chosen = next((s for s in segments if s.id == segment), None)
        if segment is not None and chosen is None:
            return pages.error(request, 404, "No such segment", f"There is no segment {segment}.")
        readers = chosen.count if chosen else send_count(services.sessions, issue_id)
        return pages.render(request, "admin_issue_send.html", issue=detail.row, readers=readers,
                            audience=plural(readers, "reader", "readers"), segments=segments, segment=chosen,
                            everyone=send_count(services.sessions, issue_id),
                            preflight=check_issue(services, issue_id))

    @router.get("/issues/{issue_id}/progress")
    def progress(issue_id: int) -> Response:
        """For editor.js, while the issue page is open: where the send stands (IssueNotFound: 404)."""
        now = services.publisher.progress(issue_id)
        return JSONResponse({**now.as_dict(), "done": now.done, "time_left": time_left(now)},
                            headers={"Cache-Control": "no-store"})

    @router.post("/issues/{issue_id}/send")
    def send(issue_id: int, force: Annotated[str, Form()] = "", segment: Annotated[str, Form(max_length=12)] = "",
             _: AdminSession = csrf) -> Response:
        try:
            # Refused (IssueStateError) unless a draft or scheduled: an issue is sent once.
            result = services.publisher.queue(issue_id, force=bool(force),
                                              segment_id=int(segment) if segment.isdigit() else None)
        except (IssueStateError, TemplateError, UnknownSegment) as exc:
            return to_issue(issue_id, "error", f"Not sent: {exc}")
        if result.queued == 0:
            text = "Nobody to send to: there is no active subscriber" + (" in that segment." if segment else ".")
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
