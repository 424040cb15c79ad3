"""API routes for outgoing webhooks: endpoints (the secret only in the create answer), an
endpoint's messages with their attempts, replay. Rules and checks are newsletter.webhooks'."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from newsletter.services import Services
from newsletter.web.api.schemas import MAX_ID, ApiError, Limit, Offset
from newsletter.web.api.schemas import Request as Body
from newsletter.webhooks.endpoints import (
    EndpointInfo,
    create_endpoint,
    get_endpoint,
    list_endpoints,
    remove_endpoint,
    set_enabled,
)
from newsletter.webhooks.messages import MessageInfo, endpoint_log, replay
from newsletter.webhooks.models import EVENTS

WebhookId = Annotated[int, Path(ge=1, le=MAX_ID)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ApiError, "description": "No such endpoint or message"}}


class WebhookCreate(Body):
    url: str = Field(min_length=1, max_length=2000, description="http:// or https://, on a public address")
    events: list[str] = Field(min_length=1, max_length=len(EVENTS), description=f"any of: {', '.join(EVENTS)}")


class WebhookChange(Body):
    enabled: bool = Field(description="false pauses the endpoint (no events are added for it; its waiting messages wait)")


class ReplayRequest(Body):
    # In the body, not the path: a path segment of any text could not be checked as JSON errors are.
    message_id: str = Field(min_length=1, max_length=40, pattern=r"^msg_[0-9a-z]+$",
                            description="the message's id (msg_..., its webhook-id)")


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    enabled: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_...: verify each delivery's webhook-signature with it; shown only here")


class WebhookList(BaseModel):
    items: list[WebhookOut]
    total: int


class AttemptOut(BaseModel):
    at: datetime
    code: int | None
    error: str
    duration_ms: int


class MessageOut(BaseModel):
    id: str
    endpoint_id: int
    event: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    last_code: int | None
    last_error: str
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    payload: str = Field(description="the JSON body as sent")
    log: list[AttemptOut]


class MessageList(BaseModel):
    items: list[MessageOut]
    total: int


def webhook_out(info: EndpointInfo) -> WebhookOut:
    return WebhookOut(id=info.id, url=info.url, events=info.events, enabled=info.enabled, created_at=info.created_at)


def message_out(message: MessageInfo) -> MessageOut:
    data = asdict(message)
    data["event"] = data.pop("event_type")
    return MessageOut.model_validate(data)


def webhooks_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/webhooks", tags=["webhooks"])
    sessions = services.sessions

    @router.get("", response_model=WebhookList, summary="List webhook endpoints")
    def list_all(limit: Limit = 50, offset: Offset = 0) -> WebhookList:
        found = list_endpoints(sessions)
        return WebhookList(items=[webhook_out(e) for e in found[offset:offset + limit]], total=len(found))

    @router.post("", response_model=WebhookCreated, status_code=201,
                 summary="Add an endpoint; the answer carries its signing secret, shown only this once")
    def create(body: WebhookCreate, request: Request, response: Response) -> WebhookCreated:
        info = create_endpoint(sessions, body.url, body.events, allow_private=services.settings.webhooks_allow_private)
        response.headers["Location"] = f"{request.scope.get('root_path', '')}/webhooks/{info.id}"
        return WebhookCreated(**webhook_out(info).model_dump(), secret=info.secret)

    @router.get("/{webhook_id}", response_model=WebhookOut, responses=NOT_FOUND, summary="One endpoint")
    def read(webhook_id: WebhookId) -> WebhookOut:
        return webhook_out(get_endpoint(sessions, webhook_id))

    @router.patch("/{webhook_id}", response_model=WebhookOut, responses=NOT_FOUND,
                  summary="Pause or resume an endpoint")
    def change(webhook_id: WebhookId, body: WebhookChange) -> WebhookOut:
        return webhook_out(set_enabled(sessions, webhook_id, body.enabled))

    @router.delete("/{webhook_id}", status_code=204, responses=NOT_FOUND,
                   summary="Remove an endpoint with its messages and log")
    def remove(webhook_id: WebhookId) -> Response:
        remove_endpoint(sessions, webhook_id)
        return Response(status_code=204)

    @router.get("/{webhook_id}/messages", response_model=MessageList, responses=NOT_FOUND,
                summary="The endpoint's delivery log: messages newest first, each with its attempts")
    def messages(webhook_id: WebhookId, limit: Limit = 50, offset: Offset = 0) -> MessageList:
        found, total = endpoint_log(sessions, webhook_id, limit, offset)
        return MessageList(items=[message_out(m) for m in found], total=total)

    @router.post("/{webhook_id}/replay", response_model=MessageOut, responses=NOT_FOUND,
                 summary="Queue one of the endpoint's messages again (the worker delivers it)")
    def replay_message(webhook_id: WebhookId, body: ReplayRequest) -> MessageOut:
        return message_out(replay(sessions, body.message_id, webhook_id))

    return router
