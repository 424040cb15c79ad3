"""The JSON API's bodies for tags, custom fields and segments (the shared types are schemas.py's)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from newsletter.web.api.schemas import Request, _storable

TagName = Annotated[str, Field(min_length=1, max_length=50), AfterValidator(_storable)]
FieldValue = str | float | bool | None
Tags = Annotated[list[TagName], Field(max_length=100, description="lower case; commas and semicolons are not allowed")]
FieldValues = Annotated[dict[str, FieldValue], Field(
    max_length=100, description="field key -> value (text, number, YYYY-MM-DD, true/false); null clears it")]
Filter = Annotated[dict[str, Any], Field(description=(
    'every condition must hold: {"tags": [{"match": "any|all|none", "tags": [...]}], "fields": [{"key", "op": '
    '"= != < <= > >= contains set unset", "value"}], "statuses": [...], "signed_up_after": "YYYY-MM-DD or ISO 8601", '
    '"signed_up_before": ..., "zones": ["Europe/Paris"], "engagement": {"kind": "opened|clicked|opened_or_clicked", '
    '"last_issues": N}}'))]


class FieldOut(BaseModel):
    id: int
    key: str
    label: str
    type: Literal["text", "number", "date", "bool"]


class FieldList(BaseModel):
    items: list[FieldOut]
    total: int


class FieldCreate(Request):
    key: Annotated[str, Field(min_length=1, max_length=40, description="a-z then a-z, 0-9, _")]
    label: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_storable)]
    type: Literal["text", "number", "date", "bool"]


class SegmentOut(BaseModel):
    id: int
    name: str
    list: str
    filter: dict[str, Any]
    created_at: datetime
    count: int = Field(description="active readers a send to it would queue now")


class SegmentList(BaseModel):
    items: list[SegmentOut]
    total: int


class SegmentCreate(Request):
    name: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_storable)]
    list: Annotated[str | None, Field(max_length=100, description="the list's slug (default: the first list)")] = None
    filter: Filter


class SegmentCount(Request):
    list: Annotated[str | None, Field(max_length=100, description="the list's slug (default: the first list)")] = None
    filter: Filter


class Count(BaseModel):
    count: int = Field(description="active readers a send to this filter would queue now")
