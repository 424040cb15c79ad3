"""The issue page's A/B subject test: set it on a draft, take it off, decide now. The test and
its figures are shown on the issue page (admin/editor.py, templates/web/_issue_ab.html)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from starlette.responses import RedirectResponse, Response

from newsletter.abtests.decide import AbTestStateError, decide
from newsletter.abtests.plan import AbTestInvalid, AbTestNeedsTracking, clear_test, set_test
from newsletter.db.base import utcnow
from newsletter.issues.publishing import IssueStateError
from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

REFUSED = (AbTestInvalid, AbTestNeedsTracking, AbTestStateError, IssueStateError)


def admin_ab_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin/issues", dependencies=[Depends(auth.require)])
    csrf = Depends(auth.require_csrf)

    def to_issue(issue_id: int, kind: str, text: str) -> Response:
        return pages.flash(RedirectResponse(f"/admin/issues/{issue_id}#ab", status_code=303), kind, text)

    @router.post("/{issue_id}/ab")
    def set_ab(
        issue_id: int,
        subject_b: Annotated[str, Form()] = "", subject_c: Annotated[str, Form()] = "",
        subject_d: Annotated[str, Form()] = "", percent: Annotated[str, Form()] = "20",
        metric: Annotated[str, Form()] = "opens", wait_hours: Annotated[str, Form()] = "4",
        _: AdminSession = csrf,
    ) -> Response:
        subjects = [s for s in (subject_b, subject_c, subject_d) if s.strip()]
        try:
            fraction, wait = _number(percent, "test share") / 100, _number(wait_hours, "wait")
            set_test(services.sessions, services.settings, issue_id, subjects, fraction, metric, wait)
        except REFUSED as exc:
            return to_issue(issue_id, "error", f"A/B test not set: {exc}")
        return to_issue(issue_id, "ok", f"A/B test set: {len(subjects) + 1} subjects; the send queues the test share.")

    @router.post("/{issue_id}/ab/off")
    def ab_off(issue_id: int, _: AdminSession = csrf) -> Response:
        try:
            clear_test(services.sessions, issue_id)
        except IssueStateError as exc:
            return to_issue(issue_id, "error", f"A/B test not taken off: {exc}")
        return to_issue(issue_id, "ok", "A/B test taken off: the issue goes to everyone with its own subject.")

    @router.post("/{issue_id}/ab/decide")
    def ab_decide(issue_id: int, _: AdminSession = csrf) -> Response:
        try:
            decision = decide(services, issue_id, utcnow())
        except (AbTestStateError, IssueStateError) as exc:
            return to_issue(issue_id, "error", f"Not decided: {exc}")
        return to_issue(issue_id, "ok", f"Subject {decision.letter} won; {decision.queued} more readers queued with it.")

    return router


def _number(text: str, what: str) -> float:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        raise AbTestInvalid(f"the {what} must be a number, got {text!r}", what) from None
