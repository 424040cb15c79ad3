"""The JSON API's A/B test bodies (``/issues/{id}/ab``, and ``ab`` on the issue resource)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _storable(value: str) -> str:
    if "\x00" in value:  # PostgreSQL refuses NUL in text; the domain refuses other control characters
        raise ValueError("must not contain NUL characters")
    return value


class AbVariantOut(BaseModel):
    idx: int = Field(description="0-3; 0 (A) is the issue's own subject")
    letter: str
    subject: str
    queued: int = Field(description="readers given this subject in the test share")
    sent: int
    unique_opens: int
    unique_clicks: int


class AbOut(BaseModel):
    state: Literal["ready", "testing", "decided"]
    fraction: float
    metric: Literal["opens", "clicks"]
    wait_hours: float
    started_at: datetime | None
    decide_at: datetime | None = Field(description="when the scheduler decides (while testing)")
    decided_at: datetime | None
    winner: int | None
    variants: list[AbVariantOut]


class AbRequest(BaseModel):
    """Set (or replace) the test of a draft or scheduled issue; needs tracking on."""

    model_config = ConfigDict(extra="forbid")
    subjects: list[Annotated[str, Field(max_length=300), AfterValidator(_storable)]] = Field(
        min_length=1, max_length=3, description="B, C, D: the issue's own subject is A")
    fraction: float = Field(0.2, gt=0, lt=1, description="share of the list in the test")
    metric: Literal["opens", "clicks"] = "opens"
    wait_hours: float = Field(4.0, gt=0, le=720)


class AbDecided(BaseModel):
    id: int
    winner: int
    letter: str
    subject: str
    queued: int = Field(description="deliveries queued for the rest of the list, with the winner's subject")
