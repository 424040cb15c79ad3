"""The tracking endpoints of tracked issues: click redirects and the open pixel.

A click goes on to the URL stored for that (issue, idx), never to a URL the request names, so
the endpoint is no open redirect. It is counted only with a valid reader token, but a valid
issue link still redirects without one, so a reader of forwarded or damaged mail is not
stranded. Recording is one INSERT that never fails the response.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from newsletter.services import Services
from newsletter.mail.tokens import InvalidToken
from newsletter.issues.tracking import CLICK, OPEN, PIXEL_GIF, TrackingTokens, link_url, record
from newsletter.web.pages import Pages

MAX_INDEX_DIGITS = 6  # no issue has a million links; bounds the work on hostile paths


def tracking_router(services: Services, pages: Pages) -> APIRouter:
    router = APIRouter()
    tokens = TrackingTokens(services.settings.secret_key)

    def reader_of(issue_id: int, token: str) -> int | None:
        try:
            return tokens.read_reader(issue_id, token)
        except InvalidToken:
            return None

    @router.get("/t/c/{issue_token}/{idx}/{reader_token}")
    def click(request: Request, issue_token: str, idx: str, reader_token: str) -> Response:
        url = None
        try:
            issue_id = tokens.read_issue(issue_token)
        except InvalidToken:
            issue_id = None
        if issue_id is not None and idx.isdigit() and len(idx) <= MAX_INDEX_DIGITS:
            url = link_url(services.sessions, issue_id, int(idx))
        if issue_id is None or url is None:
            return pages.error(request, 404, "This link didn't work",
                               "It may have been damaged on its way. The issue is in the archive.")
        subscriber_id = reader_of(issue_id, reader_token)
        if subscriber_id is not None:
            record(services.sessions, issue_id, subscriber_id, CLICK, int(idx))
        # 302, not 301: a cached permanent redirect would skip counting the next click.
        return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})

    @router.get("/t/o/{issue_token}/{reader_token}.gif")
    def pixel(issue_token: str, reader_token: str) -> Response:
        # The image is always served: a broken image in someone's mail helps nobody.
        try:
            issue_id = tokens.read_issue(issue_token)
        except InvalidToken:
            issue_id = None
        subscriber_id = reader_of(issue_id, reader_token) if issue_id is not None else None
        if issue_id is not None and subscriber_id is not None:
            record(services.sessions, issue_id, subscriber_id, OPEN)
        return Response(PIXEL_GIF, media_type="image/gif", headers={"Cache-Control": "no-store"})

    return router
