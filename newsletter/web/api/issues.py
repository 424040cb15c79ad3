"""API routes for issues: list, read, create or compose, edit, test send, send, schedule, pause,
resume, cancel, progress and figures."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, Response

from newsletter.abtests.figures import load_summary
from newsletter.issues.compose import compose
from newsletter.web.api.ab import ab_out
from newsletter.web.api.ab_schemas import AbOut
from newsletter.schedule.sends import schedule_issue
from newsletter.issues.figures import issue_figures
from newsletter.issues.editor import create_issue, set_issue_articles, update_issue
from newsletter.issues.queries import IssueDetail, get_issue, issues_sent, list_issues
from newsletter.db.base import utcnow
from newsletter.issues.models import IssueStatus
from newsletter.services import Services
from newsletter.web.api.schemas import (
    ApiError,
    ArticleRef,
    Figures,
    FiguresList,
    IssueCreate,
    IssueFiguresRow,
    IssueId,
    IssueList,
    IssueOut,
    IssuePatch,
    IssueProgress,
    IssueSummary,
    Limit,
    Offset,
    Queued,
    ScheduleRequest,
    SendRequest,
    TestSend,
    TestSent,
)

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ApiError, "description": "No issue has this id"}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ApiError, "description": "The issue's state does not allow this (e.g. it was sent)"}
}
REFUSED: dict[int | str, dict[str, Any]] = {502: {"model": ApiError, "description": "The mail server refused it"}}


def issue_out(detail: IssueDetail, ab: AbOut | None = None) -> IssueOut:
    return IssueOut(
        id=detail.id,
        number=detail.number,
        week=detail.week,
        subject=detail.subject,
        preheader=detail.preheader,
        editor_note=detail.editor_note,
        article_mode=detail.article_mode,  # type: ignore[arg-type]  # "full" or "excerpt", checked when saved
        status=detail.status,
        articles=[ArticleRef(id=a.id, title=a.title) for a in detail.articles],
        created_at=detail.created_at,
        scheduled_at=detail.scheduled_at,
        sent_at=detail.sent_at,
        ab=ab,
    )


def issues_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/issues", tags=["issues"])
    sessions, settings, publisher = services.sessions, services.settings, services.publisher

    def one(issue_id: int) -> IssueOut:
        return issue_out(get_issue(sessions, issue_id), ab_out(load_summary(sessions, issue_id)))

    def progress(issue_id: int, **extra: int) -> IssueProgress:
        return IssueProgress.model_validate({**publisher.progress(issue_id).as_dict(), **extra})

    @router.get("", response_model=IssueList, summary="List issues, newest first")
    def list_all(status: IssueStatus | None = None, limit: Limit = 50, offset: Offset = 0) -> IssueList:
        page = list_issues(sessions, status, limit, offset)
        return IssueList(items=[IssueSummary.model_validate(asdict(i)) for i in page.items], total=page.total)

    @router.post(
        "",
        response_model=IssueOut,
        status_code=201,
        summary="Create a draft from articles, or compose this week's issue",
        responses={200: {"model": IssueOut, "description": "compose: this week already had an issue"},
                   409: {"model": ApiError, "description": "compose: no articles were published this week"}},
    )
    def create(body: IssueCreate, request: Request, response: Response) -> IssueOut:
        if body.compose:
            result = compose(sessions, settings)
            issue_id = result.issue_id
            if not result.created:
                response.status_code = 200
        else:
            assert body.subject is not None  # IssueCreate requires it without compose
            issue_id = create_issue(sessions, settings, body.subject, list(body.article_ids))
        response.headers["Location"] = f"{request.scope.get('root_path', '')}/issues/{issue_id}"
        return one(issue_id)

    @router.get("/{issue_id}", response_model=IssueOut, responses=NOT_FOUND, summary="One issue")
    def read(issue_id: IssueId) -> IssueOut:
        return one(issue_id)

    @router.patch("/{issue_id}", response_model=IssueOut, responses={**NOT_FOUND, **CONFLICT},
                  summary="Edit a draft or scheduled issue")
    def edit(issue_id: IssueId, body: IssuePatch) -> IssueOut:
        # The text first: its checks are the likelier to fail, and the articles' change is then
        # the only one that could still be refused after the first was saved.
        if any(v is not None for v in (body.subject, body.preheader, body.editor_note, body.article_mode)):
            update_issue(sessions, settings, issue_id, subject=body.subject, preheader=body.preheader,
                         editor_note=body.editor_note, article_mode=body.article_mode)
        if body.article_ids is not None:
            set_issue_articles(sessions, settings, issue_id, list(body.article_ids))
        return one(issue_id)

    @router.post("/{issue_id}/test", response_model=TestSent, responses={**NOT_FOUND, **CONFLICT, **REFUSED},
                 summary="Send test copies (subject prefixed [Test]) to up to 10 addresses")
    def test_send(issue_id: IssueId, body: TestSend) -> TestSent:
        sent: list[str] = []
        for address in dict.fromkeys(str(a).lower() for a in body.to):
            publisher.send_test(issue_id, address, services.backend)
            sent.append(address)
        return TestSent(id=issue_id, sent_to=sent)

    @router.post("/{issue_id}/send", response_model=Queued, responses={**NOT_FOUND, **CONFLICT},
                 summary="Queue the issue for every active reader; workers send it")
    def send(issue_id: IssueId, body: SendRequest | None = None) -> Queued:
        result = publisher.queue(issue_id, force=body is not None and body.force,
                                 segment_id=body.segment_id if body is not None else None)
        return Queued(id=issue_id, status=IssueStatus(publisher.progress(issue_id).issue_status),
                      queued=result.queued)

    @router.post("/{issue_id}/schedule", response_model=IssueOut, responses={**NOT_FOUND, **CONFLICT},
                 summary="Send a draft once, at a time in the future")
    def schedule(issue_id: IssueId, body: ScheduleRequest) -> IssueOut:
        schedule_issue(services, issue_id, body.at, utcnow())
        return one(issue_id)

    @router.get("/{issue_id}/status", response_model=IssueProgress, responses=NOT_FOUND,
                summary="Deliveries per state, rate and time left")
    def status(issue_id: IssueId) -> IssueProgress:
        return progress(issue_id)

    @router.post("/{issue_id}/pause", response_model=IssueProgress, responses={**NOT_FOUND, **CONFLICT},
                 summary="Workers stop claiming within one batch")
    def pause(issue_id: IssueId) -> IssueProgress:
        publisher.pause(issue_id)
        return progress(issue_id)

    @router.post("/{issue_id}/resume", response_model=IssueProgress, responses={**NOT_FOUND, **CONFLICT},
                 summary="Go on where the send stopped")
    def resume(issue_id: IssueId) -> IssueProgress:
        publisher.resume(issue_id)
        return progress(issue_id)

    @router.post("/{issue_id}/cancel", response_model=IssueProgress, responses={**NOT_FOUND, **CONFLICT},
                 summary="Stop the send for good; skipped is how many were not sent")
    def cancel(issue_id: IssueId) -> IssueProgress:
        skipped = publisher.cancel(issue_id)
        return progress(issue_id, skipped=skipped)

    @router.get("/{issue_id}/figures", response_model=Figures, responses=NOT_FOUND,
                summary="How the issue did: deliveries, complaints, unsubscribes, opens and clicks")
    def figures(issue_id: IssueId) -> Figures:
        return Figures.model_validate(asdict(issue_figures(sessions, issue_id)))

    return router


def figures_router(services: Services) -> APIRouter:
    router = APIRouter(tags=["figures"])
    sessions = services.sessions

    @router.get("/figures", response_model=FiguresList,
                summary="Figures of every issue whose send has started, newest first")
    def all_figures(limit: Limit = 50, offset: Offset = 0) -> FiguresList:
        page = issues_sent(sessions, limit, offset)
        rows = [
            IssueFiguresRow.model_validate({**asdict(issue_figures(sessions, i.id)), "number": i.number,
                                            "subject": i.subject, "status": i.status, "sent_at": i.sent_at})
            for i in page.items
        ]
        return FiguresList(items=rows, total=page.total)

    return router
