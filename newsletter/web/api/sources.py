"""API routes for sources: list them with their last poll, add a feed, start a poll.

Feeds only: folders are added on the server's command line. Nothing is fetched inside a request:
adding a feed and ``POST /sources/{id}/poll`` start the poll as a background task after the answer
(202); ``GET /sources`` shows its result once done.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request, Response

from newsletter.content.sources import (
    AddressPolicy,
    SourceInfo,
    add_source,
    count_sources,
    get_source,
    list_sources,
    poll_sources,
)
from newsletter.media.fetch import ingest_localiser
from newsletter.services import Services
from newsletter.web.api.schemas import (
    ApiError,
    Limit,
    Offset,
    PollStarted,
    SourceCreate,
    SourceId,
    SourceList,
    SourceOut,
)

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ApiError, "description": "No source has this id"}}


def source_out(info: SourceInfo) -> SourceOut:
    return SourceOut.model_validate(asdict(info))


def sources_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/sources", tags=["sources"])
    sessions = services.sessions
    allow_private = services.settings.sources_allow_private

    def queue_poll(tasks: BackgroundTasks, source_id: int) -> None:
        tasks.add_task(poll_sources, sessions, [source_id], policy=AddressPolicy(allow_private=allow_private),
                       images=ingest_localiser(services.media, services.settings))

    @router.get("", response_model=SourceList, summary="List sources with their last poll, oldest first")
    def list_all(limit: Limit = 50, offset: Offset = 0) -> SourceList:
        items = list_sources(sessions, limit, offset)
        return SourceList(items=[source_out(s) for s in items], total=count_sources(sessions))

    @router.post("", response_model=SourceOut, status_code=201,
                 summary="Add an RSS or Atom feed; its first poll starts in the background")
    def create(body: SourceCreate, request: Request, response: Response, tasks: BackgroundTasks) -> SourceOut:
        info = add_source(sessions, body.location, interval_minutes=body.interval_minutes,
                          allow_private=allow_private)
        queue_poll(tasks, info.id)
        response.headers["Location"] = f"{request.scope.get('root_path', '')}/sources/{info.id}"
        return source_out(info)

    @router.get("/{source_id}", response_model=SourceOut, responses=NOT_FOUND, summary="One source")
    def read(source_id: SourceId) -> SourceOut:
        return source_out(get_source(sessions, source_id))

    @router.post("/{source_id}/poll", response_model=PollStarted, status_code=202, responses=NOT_FOUND,
                 summary="Poll a source now, in the background; GET it later for the result")
    def poll(source_id: SourceId, tasks: BackgroundTasks) -> PollStarted:
        get_source(sessions, source_id)  # 404 now rather than a silent no-op later
        queue_poll(tasks, source_id)
        return PollStarted(id=source_id, message=f"the poll of source {source_id} has started; "
                                                 f"GET /sources/{source_id} shows its result when done")

    return router
