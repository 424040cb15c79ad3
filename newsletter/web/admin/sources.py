"""The editor's sources page: the list with each source's last poll, adding a feed, polling one now.

Nothing is fetched inside a request: adding a feed or "poll now" queues the poll as a background
task, run after the answer is sent; the list shows its result when it is done. Folders are added
from the CLI only (the sources service refuses them here).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from newsletter.errors import NotFound
from newsletter.media.fetch import ingest_localiser
from newsletter.services import Services
from newsletter.content.sources import (
    MAX_ENTRIES,
    AddressPolicy,
    SourceError,
    add_source,
    get_source,
    list_sources,
    poll_sources,
)
from newsletter.content.sources.registry import DEFAULT_INTERVAL_MINUTES
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

PAGE = "/admin/sources"


def admin_sources_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    # A default, not an Annotated alias: see admin.py (postponed annotations resolve in globals).
    csrf = Depends(auth.require_csrf)
    allow_private = services.settings.sources_allow_private

    def queue_poll(tasks: BackgroundTasks, source_id: int) -> None:
        tasks.add_task(poll_sources, services.sessions, [source_id], policy=AddressPolicy(allow_private=allow_private),
                       images=ingest_localiser(services.media, services.settings))

    def back(kind: str, text: str) -> Response:
        return pages.flash(RedirectResponse(PAGE, status_code=303), kind, text)

    @router.get("/sources")
    def sources(request: Request) -> Response:
        rows = list_sources(services.sessions)
        return pages.render(request, "admin_sources.html", sources=rows, default_interval=DEFAULT_INTERVAL_MINUTES,
                            max_entries=MAX_ENTRIES)

    @router.post("/sources")
    def add(
        tasks: BackgroundTasks,
        location: Annotated[str, Form()] = "",
        interval: Annotated[str, Form()] = "",
        _: AdminSession = csrf,
    ) -> Response:
        try:
            minutes = int(interval) if interval.strip() else DEFAULT_INTERVAL_MINUTES
        except ValueError:
            return back("error", f"Not added: the interval must be a whole number of minutes (got {interval!r}).")
        try:
            info = add_source(services.sessions, location, interval_minutes=minutes, allow_private=allow_private)
        except SourceError as exc:
            return back("error", f"Not added: {exc}")
        queue_poll(tasks, info.id)
        return back("ok", f"Added source {info.id}: {info.location}. Its first poll has started; "
                          "reload this page to see its result.")

    @router.post("/sources/{source_id}/poll")
    def poll(source_id: int, tasks: BackgroundTasks, _: AdminSession = csrf) -> Response:
        try:
            get_source(services.sessions, source_id)
        except NotFound as exc:
            return back("error", f"Not polled: {exc}")
        queue_poll(tasks, source_id)
        return back("ok", f"Poll of source {source_id} started; reload this page to see its result.")

    return router
