"""API routes for custom fields and segments (a reader's tags and fields are on the subscriber)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from newsletter.audience.fields import FieldInfo
from newsletter.audience.segments import SegmentInfo
from newsletter.services import Services
from newsletter.web.api.audience_schemas import (
    Count,
    FieldCreate,
    FieldList,
    FieldOut,
    SegmentCount,
    SegmentCreate,
    SegmentList,
    SegmentOut,
)
from newsletter.web.api.schemas import ApiError, Id

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ApiError, "description": "No segment has this id"}}
UNKNOWN_LIST: dict[int | str, dict[str, Any]] = {404: {"model": ApiError, "description": "No list has this slug"}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": ApiError, "description": "The name or key is taken"}}


def field_out(f: FieldInfo) -> FieldOut:
    return FieldOut(id=f.id, key=f.key, label=f.label, type=f.type.value)


def segment_out(s: SegmentInfo) -> SegmentOut:
    data = s.as_dict()
    return SegmentOut(id=s.id, name=s.name, list=str(data["list"]), filter=s.filter, created_at=s.created_at,
                      count=s.count)


def audience_router(services: Services) -> APIRouter:
    router = APIRouter(tags=["audience"])
    audience = services.audience

    @router.get("/fields", response_model=FieldList, summary="The custom fields readers can carry")
    def fields() -> FieldList:
        items = [field_out(f) for f in audience.fields()]
        return FieldList(items=items, total=len(items))

    @router.post("/fields", response_model=FieldOut, status_code=201, responses=CONFLICT,
                 summary="Define a custom field (its key names it in imports, filters and subscribers' fields)")
    def define(body: FieldCreate) -> FieldOut:
        return field_out(audience.define_field(body.key, body.label, body.type))

    @router.get("/segments", response_model=SegmentList, summary="Segments with their current counts")
    def segments() -> SegmentList:
        items = [segment_out(s) for s in audience.segments()]
        return SegmentList(items=items, total=len(items))

    @router.post("/segments", response_model=SegmentOut, status_code=201, responses={**CONFLICT, **UNKNOWN_LIST},
                 summary="Save a segment: a filter on one list")
    def create(body: SegmentCreate, request: Request, response: Response) -> SegmentOut:
        segment = audience.create_segment(body.name, body.list, body.filter)
        response.headers["Location"] = f"{request.scope.get('root_path', '')}/segments/{segment.id}"
        return segment_out(segment)

    @router.post("/segments/count", response_model=Count, responses=UNKNOWN_LIST, summary="How many readers a filter holds, not saved")
    def count(body: SegmentCount) -> Count:
        return Count(count=audience.count(body.filter, body.list)[1])

    @router.get("/segments/{segment_id}", response_model=SegmentOut, responses=NOT_FOUND, summary="One segment")
    def read(segment_id: Id) -> SegmentOut:
        return segment_out(audience.segment(segment_id))

    @router.delete("/segments/{segment_id}", status_code=204, responses={**NOT_FOUND, **CONFLICT},
                   summary="Delete a segment (409: an issue was sent to it and keeps it)")
    def remove(segment_id: Id) -> Response:
        audience.remove_segment(segment_id)
        return Response(status_code=204)

    return router
