"""Owner-only pages for outgoing webhooks: list, add (the secret shown on the answer), remove, and an
endpoint's delivery log with a replay button per message. The rules are newsletter.webhooks'."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth, AdminSession
from newsletter.web.pages import Pages
from newsletter.webhooks.endpoints import (
    InvalidWebhookEvents,
    InvalidWebhookUrl,
    WebhookNotFound,
    create_endpoint,
    get_endpoint,
    list_endpoints,
    remove_endpoint,
    set_enabled,
)
from newsletter.webhooks.messages import WebhookMessageNotFound, endpoint_log, replay
from newsletter.webhooks.models import EVENTS

LOG_PAGE = 100


def sentence(exc: Exception) -> str:
    text = str(exc)  # not str.capitalize(): it would lower-case the setting's name
    return text[:1].upper() + text[1:] + "."


def admin_webhooks_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require_owner)])
    csrf = Depends(auth.require_csrf)
    sessions = services.sessions

    def back(path: str, kind: str, text: str) -> Response:
        return pages.flash(RedirectResponse(path, status_code=303), kind, text)

    def list_page(request: Request, status: int = 200, **extra: object) -> Response:
        values: dict[str, object] = {"url": "", "chosen": [], "errors": {}, "created": None, **extra}
        return pages.render(request, "admin_webhooks.html", status, webhooks=list_endpoints(sessions),
                            events=EVENTS, **values)

    @router.get("/webhooks")
    def list_webhooks(request: Request) -> Response:
        return list_page(request)

    @router.post("/webhooks")
    def add_webhook(
        request: Request,
        url: Annotated[str, Form()] = "",
        events: Annotated[list[str] | None, Form()] = None,
        _: AdminSession = csrf,
    ) -> Response:
        chosen = events or []
        try:
            created = create_endpoint(sessions, url, chosen, allow_private=services.settings.webhooks_allow_private)
        except InvalidWebhookUrl as exc:
            return list_page(request, 400, url=url, chosen=chosen, errors={"url": sentence(exc)})
        except InvalidWebhookEvents as exc:
            return list_page(request, 400, url=url, chosen=chosen, errors={"events": sentence(exc)})
        # The secret is on this response only (not a redirect, cookie or log); the endpoint's page shows it again.
        return list_page(request, 201, created=created)

    @router.post("/webhooks/{webhook_id}/remove")
    def remove_webhook(webhook_id: int, _: AdminSession = csrf) -> Response:
        try:
            info = remove_endpoint(sessions, webhook_id)
        except WebhookNotFound as exc:
            return back("/admin/webhooks", "error", f"Not removed: {exc}.")
        return back("/admin/webhooks", "ok", f"Removed the webhook to {info.url}.")

    @router.post("/webhooks/{webhook_id}/enabled")
    def pause_or_resume(webhook_id: int, enabled: Annotated[str, Form(max_length=5)] = "", _: AdminSession = csrf) -> Response:
        path = f"/admin/webhooks/{webhook_id}"
        try:
            info = set_enabled(sessions, webhook_id, enabled == "1")
        except WebhookNotFound as exc:
            return back("/admin/webhooks", "error", f"Not changed: {exc}.")
        return back(path, "ok", "Deliveries resumed." if info.enabled else "Paused: no events are added and waiting messages wait.")

    @router.get("/webhooks/{webhook_id}")
    def webhook_log(request: Request, webhook_id: int) -> Response:
        endpoint = get_endpoint(sessions, webhook_id)  # WebhookNotFound: the 404 page
        messages, total = endpoint_log(sessions, webhook_id, LOG_PAGE)
        return pages.render(request, "admin_webhook.html", endpoint=endpoint, messages=messages, total=total)

    @router.post("/webhooks/{webhook_id}/messages/{msg_id}/replay")
    def replay_message(webhook_id: int, msg_id: str, _: AdminSession = csrf) -> Response:
        path = f"/admin/webhooks/{webhook_id}"
        try:
            replay(sessions, msg_id, webhook_id)
        except WebhookMessageNotFound as exc:
            return back(path, "error", f"Not replayed: {exc}.")
        return back(path, "ok", f"{msg_id} is queued again; the worker delivers it within seconds.")

    return router
