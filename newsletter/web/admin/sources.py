"""The editor's sources page: the list with each source's last poll, adding one, polling one now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from newsletter.services import Services
from newsletter.content.sources import SourceError, SourceNotFound, add_source, list_sources, poll_source
from newsletter.content.sources.registry import DEFAULT_INTERVAL_MINUTES
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

PAGE = "/admin/sources"


def admin_sources_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    # A default, not an Annotated alias: see admin.py (postponed annotations resolve in globals).
    csrf = Depends(auth.require_csrf)

    def back(kind: str, text: str) -> Response:
        return pages.flash(RedirectResponse(PAGE, status_code=303), kind, text)

    @router.get("/sources")
    def sources(request: Request) -> Response:
        rows = list_sources(services.sessions)
        return pages.render(request, "admin_sources.html", sources=rows, default_interval=DEFAULT_INTERVAL_MINUTES)

    @router.post("/sources")
    def add(
        location: Annotated[str, Form()] = "",
        interval: Annotated[str, Form()] = "",
        _: AdminSession = csrf,
    ) -> Response:
        try:
            minutes = int(interval) if interval.strip() else DEFAULT_INTERVAL_MINUTES
        except ValueError:
            return back("error", f"Not added: the interval must be a whole number of minutes (got {interval!r}).")
        try:
            info = add_source(services.sessions, location, interval_minutes=minutes)
        except SourceError as exc:
            return back("error", f"Not added: {exc}")
        return back("ok", f"Added source {info.id} ({info.kind}): {info.location}. Poll it now to fetch its articles.")

    @router.post("/sources/{source_id}/poll")
    def poll(source_id: int, _: AdminSession = csrf) -> Response:
        try:
            result = poll_source(services.sessions, source_id)
        except (SourceError, SourceNotFound) as exc:
            return back("error", f"Not polled: {exc}")
        counts = f"{result.added} added, {result.updated} updated, {result.unchanged} unchanged"
        if result.error:
            return back("error", f"Polled source {source_id}: {counts}. Error: {result.error}")
        return back("ok", f"Polled source {source_id}: {counts}.")

    return router
