"""API routes for an issue's A/B subject test: set, take off, decide now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from newsletter.abtests.decide import decide
from newsletter.abtests.figures import AbSummary
from newsletter.abtests.plan import clear_test, set_test
from newsletter.db.base import utcnow
from newsletter.services import Services
from newsletter.web.api.ab_schemas import AbDecided, AbOut, AbRequest
from newsletter.web.api.schemas import ApiError, IssueId

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ApiError, "description": "No issue has this id"},
    409: {"model": ApiError, "description": "The issue is not a draft, tracking is off, or nothing to decide"},
}


def ab_out(summary: AbSummary | None) -> AbOut | None:
    return None if summary is None else AbOut.model_validate(summary.as_dict())


def ab_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/issues", tags=["issues"])
    sessions, settings = services.sessions, services.settings

    @router.put("/{issue_id}/ab", response_model=AbOut, responses=ERRORS,
                summary="Set an A/B subject test on a draft (2-4 subjects in all; tracking must be on)")
    def put(issue_id: IssueId, body: AbRequest) -> AbOut | None:
        return ab_out(set_test(sessions, settings, issue_id, body.subjects, body.fraction, body.metric,
                               body.wait_hours))

    @router.delete("/{issue_id}/ab", status_code=204, responses=ERRORS,
                   summary="Take the test off a draft: it goes to everyone with its own subject")
    def delete(issue_id: IssueId) -> Response:
        clear_test(sessions, issue_id)
        return Response(status_code=204)

    @router.post("/{issue_id}/ab/decide", response_model=AbDecided, responses=ERRORS,
                 summary="Choose the winner now and queue the rest of the list with its subject")
    def decide_now(issue_id: IssueId) -> AbDecided:
        decision = decide(services, issue_id, utcnow())
        return AbDecided(id=issue_id, winner=decision.winner, letter=decision.letter, subject=decision.subject,
                         queued=decision.queued)

    return router
