"""The editor's list settings page: name, From address, sending limits, tracking, welcome email."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from newsletter.issues.list_profile import (
    DEFAULT_WELCOME_BODY,
    DEFAULT_WELCOME_SUBJECT,
    InvalidProfile,
    ListProfile,
    load_profile,
    save_profile,
)
from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages

PAGE = "/admin/settings"


def _form_values(profile: ListProfile) -> dict[str, Any]:
    values = asdict(profile)
    values["rate_per_second"] = f"{profile.rate_per_second:g}"
    values["rate_per_hour"] = str(profile.rate_per_hour)
    return values


def _unless(value: str, default: str) -> str | None:
    return None if not value or value == default else value


def admin_settings_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    # A default, not an Annotated alias: see admin.py (postponed annotations resolve in globals).
    csrf = Depends(auth.require_csrf)
    settings = services.settings

    def page(request: Request, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
        return pages.render(request, "admin_settings.html", status, values=values, errors=errors,
                            defaults=settings)

    @router.get("/settings")
    def show(request: Request) -> Response:
        return page(request, _form_values(load_profile(services.sessions, settings)), {})

    @router.post("/settings")
    def save(
        request: Request,
        list_name: Annotated[str, Form()] = "",
        from_address: Annotated[str, Form()] = "",
        rate_per_second: Annotated[str, Form()] = "0",
        rate_per_hour: Annotated[str, Form()] = "0",
        tracking_enabled: Annotated[str, Form()] = "",
        welcome_enabled: Annotated[str, Form()] = "",
        welcome_subject: Annotated[str, Form()] = "",
        welcome_body_markdown: Annotated[str, Form()] = "",
        postal_address: Annotated[str, Form()] = "",
        _: AdminSession = csrf,
    ) -> Response:
        # Empty, or the same as the default: stored as "use the default", so a later change of
        # the NEWSLETTER_ setting still applies.
        name = list_name.strip()
        default_name = settings.list_name
        shown_name = name or default_name
        changes: dict[str, Any] = {
            "list_name": _unless(name, default_name),
            "from_address": _unless(from_address.strip(), settings.from_address),
            "rate_per_second": _unless(rate_per_second.strip(), f"{settings.rate_per_second:g}"),
            "rate_per_hour": _unless(rate_per_hour.strip(), str(settings.rate_per_hour)),
            "tracking_enabled": bool(tracking_enabled),
            "welcome_enabled": bool(welcome_enabled),
            "welcome_subject": _unless(welcome_subject.strip(), DEFAULT_WELCOME_SUBJECT.format(list_name=shown_name)),
            "welcome_body_markdown": _unless(
                welcome_body_markdown.strip().replace("\r\n", "\n"), DEFAULT_WELCOME_BODY.format(list_name=shown_name)
            ),
            "postal_address": postal_address.strip() or None,
        }
        try:
            save_profile(services.sessions, settings, **changes)
        except InvalidProfile as exc:
            values = {"list_name": list_name, "from_address": from_address, "rate_per_second": rate_per_second,
                      "rate_per_hour": rate_per_hour, "tracking_enabled": bool(tracking_enabled),
                      "welcome_enabled": bool(welcome_enabled), "welcome_subject": welcome_subject,
                      "welcome_body_markdown": welcome_body_markdown, "postal_address": postal_address}
            return page(request, values, exc.errors, 422)
        text = "Settings saved. Workers already running keep their sending limits until they restart."
        return pages.flash(RedirectResponse(PAGE, status_code=303), "ok", text)

    return router
