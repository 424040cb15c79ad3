"""API routes for subscribers: search, read with history, add (double opt-in or confirmed), edit,
erase (GDPR), lift a suppression (by id or by address)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from newsletter.readers.models import SubscriberStatus
from newsletter.services import Services
from newsletter.readers.roster import (
    SubscriberFilter,
    SubscriberRow,
    reader_card,
    search_subscribers,
    update_subscriber,
)
from newsletter.readers.subscriptions import SubscriberSuppressed
from newsletter.readers.suppression import Unsuppressed as Lifted
from newsletter.readers.suppression import unsuppress
from newsletter.web.api.schemas import (
    AddOutcome,
    ApiError,
    DeliveryOut,
    EventOut,
    Limit,
    Offset,
    SubscriberCreate,
    SubscriberCreated,
    SubscriberDetail,
    SubscriberId,
    SubscriberList,
    SubscriberOut,
    SubscriberPatch,
    Unsuppressed,
    UnsuppressRequest,
)

SOURCE = "api"  # the subscriber's source, as their history shows it
BY_API = "the owner (API)"  # who lifted a suppression, as the history shows it
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ApiError, "description": "No subscriber has this id"}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ApiError, "description": "The address is suppressed, or another subscriber has it"}
}
NOT_SUPPRESSED: dict[int | str, dict[str, Any]] = {
    404: {"model": ApiError, "description": "No such subscriber, or the address is not suppressed"}
}
Search = Annotated[str, Query(max_length=200, description="part of the address or the name, any case")]


__all__ = ["SubscriberSuppressed", "subscribers_router"]  # SubscriberSuppressed: imported from here before


def row_out(row: SubscriberRow, tags: list[str] | None = None, fields: dict[str, object] | None = None) -> SubscriberOut:
    return SubscriberOut(id=row.id, email=row.email, name=row.name, status=row.status, created_at=row.created_at,
                         confirmed_at=row.confirmed_at, tags=tags or [], fields=fields or {})  # type: ignore[arg-type]


def lifted_out(lifted: Lifted) -> Unsuppressed:
    return Unsuppressed(email=lifted.email, reason=lifted.reason, subscriber_id=lifted.subscriber_id,
                        previous_status=lifted.previous_status, status=lifted.status)


def subscribers_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/subscribers", tags=["subscribers"])
    sessions, subscriptions, suppression = services.sessions, services.subscriptions, services.suppression
    audience = services.audience

    @router.get("", response_model=SubscriberList, summary="Search subscribers, newest first")
    def search(q: Search = "", status: SubscriberStatus | None = None, limit: Limit = 50,
               offset: Offset = 0) -> SubscriberList:
        page = search_subscribers(sessions, SubscriberFilter(q.replace("\x00", ""), status), limit, offset)
        tags, fields = audience.readers([r.id for r in page.rows])
        return SubscriberList(items=[row_out(r, tags[r.id], fields[r.id]) for r in page.rows], total=page.total)

    @router.post(
        "",
        response_model=SubscriberCreated,
        status_code=201,
        summary="Add a subscriber: pending with a confirmation email, or active at once with confirmed: true",
        responses={
            200: {"model": SubscriberCreated, "description": "The address was already there; see outcome"},
            **CONFLICT,
            502: {"model": ApiError, "description": "The confirmation email could not be sent"},
        },
    )
    def add(body: SubscriberCreate, request: Request, response: Response) -> SubscriberCreated:
        added = subscriptions.add_subscriber(str(body.email), body.name, confirmed=body.confirmed, source=SOURCE)
        if added.changed:
            response.headers["Location"] = f"{request.scope.get('root_path', '')}/subscribers/{added.id}"
        else:
            response.status_code = 200
        outcome: AddOutcome = added.outcome.value  # type: ignore[assignment]  # the same five words
        has = audience.reader(added.id)
        return SubscriberCreated(id=added.id, email=added.email, name=added.name, status=added.status,
                                 created_at=added.created_at, confirmed_at=added.confirmed_at, outcome=outcome,
                                 tags=has.tags, fields=has.fields)  # type: ignore[arg-type]

    @router.post("/unsuppress", response_model=Unsuppressed, responses=NOT_SUPPRESSED,
                 summary="Take an address off the suppression list, whether or not a subscriber has it")
    def unsuppress_address(body: UnsuppressRequest) -> Unsuppressed:
        return lifted_out(unsuppress(sessions, suppression, email=body.email, by=BY_API))

    @router.get("/{subscriber_id}", response_model=SubscriberDetail, responses=NOT_FOUND,
                summary="One subscriber, with their history and deliveries")
    def read(subscriber_id: SubscriberId) -> SubscriberDetail:
        h = reader_card(sessions, suppression, subscriber_id=subscriber_id).history
        has = audience.reader(h.id)
        return SubscriberDetail(
            id=h.id, email=h.email, name=h.name, status=h.status, created_at=h.created_at,
            tags=has.tags, fields=has.fields,  # type: ignore[arg-type]
            confirmed_at=h.confirmed_at, source=h.source, time_zone=h.time_zone, unsubscribed_at=h.unsubscribed_at,
            history=[EventOut(kind=e.kind, detail=e.detail, at=e.at) for e in h.events],
            deliveries=[
                DeliveryOut(issue_id=d.issue_id, issue_number=d.issue_number, subject=d.subject, status=d.status,
                            attempts=d.attempts, error=d.error, at=d.at)
                for d in h.deliveries
            ],
        )

    @router.patch("/{subscriber_id}", response_model=SubscriberOut, responses={**NOT_FOUND, **CONFLICT},
                  summary="Change a subscriber's address, name, status, tags or custom fields")
    def edit(subscriber_id: SubscriberId, body: SubscriberPatch) -> SubscriberOut:
        # Tags and fields are checked first, so a bad one changes nothing at all.
        change = audience.check_change(body.tags, body.fields, text=False)
        audience.reader(subscriber_id)  # 404 before anything changes
        row = update_subscriber(sessions, suppression, subscriber_id,
                                email=None if body.email is None else str(body.email), name=body.name,
                                status=body.status)
        has = audience.change(subscriber_id, change)
        return row_out(row, has.tags, has.fields)

    @router.post("/{subscriber_id}/unsuppress", response_model=Unsuppressed, responses=NOT_SUPPRESSED,
                 summary="Lift a subscriber's suppression: bounced or complained, they are mailed again")
    def unsuppress_subscriber(subscriber_id: SubscriberId) -> Unsuppressed:
        return lifted_out(unsuppress(sessions, suppression, subscriber_id=subscriber_id, by=BY_API))

    @router.delete("/{subscriber_id}", status_code=204, response_class=Response, responses=NOT_FOUND,
                   summary="Erase a subscriber (GDPR): only a keyed hash stays, so the address is never mailed again")
    def erase(subscriber_id: SubscriberId) -> Response:
        subscriptions.erase_subscriber(subscriber_id)
        return Response(status_code=204)

    return router
