"""The editor's Lists page: every newsletter with its reader count, and creating a new one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from newsletter.lists.catalog import all_lists, create_list
from newsletter.lists.errors import InvalidList, SlugTaken
from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

PAGE = "/admin/lists"
MAX_FIELD = 400  # longer than any valid name, slug or From; bounds the work on hostile posts


def admin_lists_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    # A default, not an Annotated alias: see admin.py (postponed annotations resolve in globals).
    csrf = Depends(auth.require_csrf)

    def page(request: Request, status_code: int = 200, **form: str) -> Response:
        values = {"name": "", "slug": "", "from_address": "", "error": "", **form}
        return pages.render(request, "admin_lists.html", status_code, lists=all_lists(services.sessions),
                            base_url=services.settings.base_url.rstrip("/"), **values)

    @router.get("/lists")
    def lists(request: Request) -> Response:
        return page(request)

    @router.post("/lists")
    def create(
        request: Request,
        name: Annotated[str, Form()] = "",
        slug: Annotated[str, Form()] = "",
        from_address: Annotated[str, Form()] = "",
        _: AdminSession = csrf,
    ) -> Response:
        typed = {"name": name[:MAX_FIELD], "slug": slug[:MAX_FIELD], "from_address": from_address[:MAX_FIELD]}
        try:
            made = create_list(services.sessions, typed["name"], typed["slug"].strip() or None,
                               typed["from_address"].strip() or None)
        except (InvalidList, SlugTaken) as exc:
            return page(request, 400 if isinstance(exc, InvalidList) else 409, error=f"Not created: {exc}.", **typed)
        return pages.flash(RedirectResponse(PAGE, status_code=303), "ok",
                           f"Created {made.name}: its subscribe page is /n/{made.slug}/subscribe.")

    return router
