"""The editor's subscriber pages: the list (search, status filter, pages of 50), one reader with
their history and deliveries, and setting a reader active or unsubscribed by hand."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from newsletter.history import PER_PAGE, SubscriberNotFound, find_subscribers, subscriber_history
from newsletter.models import SubscriberStatus
from newsletter.services import Services
from newsletter.subscriptions import EDITOR_STATUSES, StatusChangeRefused
from newsletter.web.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

PAGE = "/admin/subscribers"
SEARCH_MAX = 320  # the longest address


def page_url(search: str, status: str, page: int) -> str:
    params = {key: value for key, value in (("q", search), ("status", status)) if value}
    if page > 1:
        params["page"] = str(page)
    return PAGE + (f"?{urlencode(params)}" if params else "")


def admin_subscribers_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    # A default, not an Annotated alias: see admin.py (postponed annotations resolve in globals).
    csrf = Depends(auth.require_csrf)

    def not_found(request: Request, subscriber_id: int) -> Response:
        return pages.error(request, 404, "No such subscriber", f"There is no subscriber {subscriber_id}.")

    @router.get("/subscribers")
    def subscribers(
        request: Request,
        q: Annotated[str, Query(max_length=1000)] = "",
        status: str = "",
        page: int = 1,
    ) -> Response:
        search = q.strip()[:SEARCH_MAX]
        # An unknown status in the URL lists everyone rather than failing.
        chosen = SubscriberStatus(status) if status in {s.value for s in SubscriberStatus} else None
        status_value = chosen.value if chosen else ""
        with services.sessions() as session:
            found = find_subscribers(session, search, chosen, page, PER_PAGE)
        return pages.render(
            request,
            "admin_subscribers.html",
            result=found,
            search=search,
            status=status_value,
            statuses=[s.value for s in SubscriberStatus],
            first=(found.page - 1) * PER_PAGE + 1,
            last=(found.page - 1) * PER_PAGE + len(found.rows),
            previous_url=page_url(search, status_value, found.page - 1) if found.page > 1 else None,
            next_url=page_url(search, status_value, found.page + 1) if found.page < found.pages else None,
        )

    @router.get("/subscribers/{subscriber_id}")
    def subscriber(request: Request, subscriber_id: int) -> Response:
        try:
            with services.sessions() as session:
                history = subscriber_history(session, subscriber_id)
                suppressed = bool(services.suppression.suppressed(session, [history.email]))
        except SubscriberNotFound:
            return not_found(request, subscriber_id)
        return pages.render(
            request,
            "admin_subscriber.html",
            reader=history,
            suppressed=suppressed,
            editor_statuses=[s.value for s in EDITOR_STATUSES],
        )

    @router.post("/subscribers/{subscriber_id}/status")
    def set_status(
        request: Request,
        subscriber_id: int,
        status: Annotated[str, Form()] = "",
        _: AdminSession = csrf,
    ) -> Response:
        back = RedirectResponse(f"{PAGE}/{subscriber_id}", status_code=303)
        allowed = {s.value for s in EDITOR_STATUSES}
        if status not in allowed:
            return pages.flash(back, "error", f"Not changed: choose {' or '.join(sorted(allowed))}.")
        try:
            reader = services.subscriptions.set_status(
                subscriber_id, SubscriberStatus(status), by="the editor (admin page)"
            )
        except SubscriberNotFound:
            return not_found(request, subscriber_id)
        except StatusChangeRefused as exc:
            return pages.flash(back, "error", f"Not changed: {exc}.")
        return pages.flash(back, "ok", f"{reader.email} is now {reader.status.value}.")

    return router
