"""The JSON API's request and response bodies: what the OpenAPI schema promises, with its limits.

Requests refuse unknown keys (a typo is an error, not a silent no-op). The limits are the
columns' and the domain's; the domain still checks everything, so a direct caller is safe too.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from newsletter.delivery.models import DeliveryStatus
from newsletter.web.api.ab_schemas import AbOut
from newsletter.issues.models import IssueStatus
from newsletter.readers.models import SubscriberEventKind, SubscriberStatus

MAX_ID = 2**31 - 1  # PostgreSQL integer columns; a bigger id names nothing
MAX_TEST_RECIPIENTS = 10
MAX_ARTICLES = 100


def _storable(value: str) -> str:
    # PostgreSQL refuses NUL in text, and a lone surrogate cannot be encoded at all.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("is out of range") from None


Subject = Annotated[str, Field(min_length=1, max_length=300), AfterValidator(_storable), AfterValidator(_not_blank)]
Preheader = Annotated[str, Field(max_length=300), AfterValidator(_storable)]
EditorNote = Annotated[str, Field(max_length=5000), AfterValidator(_storable)]
ArticleMode = Literal["full", "excerpt"]
Title = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_storable), AfterValidator(_not_blank)]
Author = Annotated[str, Field(max_length=200), AfterValidator(_storable)]
Standfirst = Annotated[str, Field(max_length=2000), AfterValidator(_storable)]
Url = Annotated[str, Field(max_length=1000, description="http:// or https://, or empty"), AfterValidator(_storable)]
Body = Annotated[
    str, Field(min_length=1, max_length=100_000, description="Markdown"), AfterValidator(_storable),
    AfterValidator(_not_blank),
]
Name = Annotated[str, Field(max_length=200), AfterValidator(_storable)]
Email = Annotated[EmailStr, Field(max_length=320)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Moment = Annotated[AwareDatetime, AfterValidator(_utc)]
ArticleIds = Annotated[list[Id], Field(max_length=MAX_ARTICLES, description="in the issue's order")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors


class FieldError(BaseModel):
    field: str = Field(description="the request field, e.g. subject or body.to.0")
    message: str


class Problem(BaseModel):
    code: str
    message: str


class ApiError(BaseModel):
    """Every error: a sentence and the HTTP status; 422 adds the fields, a refused send the problems."""

    error: str
    status: int
    fields: list[FieldError] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list, description="preflight errors that block a send")


# -- issues


class IssueSummary(BaseModel):
    id: int
    number: int
    week: str | None
    subject: str
    status: IssueStatus
    article_count: int
    created_at: datetime
    scheduled_at: datetime | None
    sent_at: datetime | None


class IssueList(BaseModel):
    items: list[IssueSummary]
    total: int


class ArticleRef(BaseModel):
    id: int
    title: str


class IssueOut(BaseModel):
    id: int
    number: int
    week: str | None
    subject: str
    preheader: str
    editor_note: str
    article_mode: ArticleMode = Field("full", description="full: whole articles in the email; excerpt: each "
                                      "article's opening and a link to the whole on the web version")
    status: IssueStatus
    articles: list[ArticleRef] = Field(description="in the issue's order")
    created_at: datetime
    scheduled_at: datetime | None
    sent_at: datetime | None
    ab: AbOut | None = Field(None, description="the A/B subject test, if the issue has one")


class IssueCreate(Request):
    """Either ``{"subject", "article_ids"}`` for a new draft, or ``{"compose": true}`` for this week's issue."""

    compose: bool = False
    subject: Subject | None = None
    article_ids: ArticleIds = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_way(self) -> IssueCreate:
        if self.compose and (self.subject is not None or self.article_ids):
            raise ValueError("give either compose, or subject and article_ids, not both")
        if not self.compose and self.subject is None:
            raise ValueError("give a subject (and article_ids), or compose: true")
        return self


class IssuePatch(Request):
    """Only the keys given change (null: keep)."""

    subject: Subject | None = None
    preheader: Preheader | None = None
    editor_note: EditorNote | None = None
    article_mode: ArticleMode | None = None
    article_ids: ArticleIds | None = None


class TestSend(Request):
    to: list[Email] = Field(min_length=1, max_length=MAX_TEST_RECIPIENTS)


class TestSent(BaseModel):
    id: int
    sent_to: list[str]


class SendRequest(Request):
    force: bool = Field(default=False, description="send even though preflight found errors")
    segment_id: Id | None = Field(default=None, description="only this segment's active readers (GET /segments)")


class Queued(BaseModel):
    id: int
    status: IssueStatus
    queued: int = Field(description="deliveries created for the active readers")


class ScheduleRequest(Request):
    at: Moment = Field(description="ISO 8601 with a time zone, in the future")


class DomainPace(BaseModel):
    """One paced recipient domain group of a send (delivery/pacing.py)."""

    sent: int
    deferred: int  # waiting for the domain's turn
    rate: float  # messages per second allowed now


class IssueProgress(BaseModel):
    """The same document as ``newsletter issues status --json``."""

    id: int
    status: IssueStatus
    queued: int
    sending: int
    sent: int
    deferred: int
    failed: int
    bounced: int
    skipped: int
    total: int
    rate_per_second: float
    eta_seconds: int | None
    domains: dict[str, DomainPace] = {}


class Figures(BaseModel):
    """How an issue did; the four tracking figures are null when tracking was off for it."""

    issue_id: int
    recipients: int
    sent: int
    deferred: int
    bounced: int
    failed: int
    skipped: int
    complaints: int
    unsubscribes: int
    opens: int | None
    unique_opens: int | None
    clicks: int | None
    unique_clicks: int | None


class IssueFiguresRow(Figures):
    number: int
    subject: str
    status: IssueStatus
    sent_at: datetime | None


class FiguresList(BaseModel):
    items: list[IssueFiguresRow]
    total: int


# -- articles: see article_schemas.py


# -- subscribers


class SubscriberOut(BaseModel):
    id: int
    email: str
    name: str
    status: SubscriberStatus
    created_at: datetime
    confirmed_at: datetime | None
    tags: list[str] = Field(default_factory=list, description="lower case, sorted")
    fields: dict[str, str | float | bool] = Field(
        default_factory=dict, description="custom field key -> value (dates as YYYY-MM-DD); unset fields are left out")


class SubscriberList(BaseModel):
    items: list[SubscriberOut]
    total: int


class EventOut(BaseModel):
    kind: SubscriberEventKind
    detail: str
    at: datetime


class DeliveryOut(BaseModel):
    issue_id: int
    issue_number: int
    subject: str
    status: DeliveryStatus
    attempts: int
    error: str | None = Field(description="the last reply while it has not gone out")
    at: datetime = Field(description="when it was sent, or else queued")


class SubscriberDetail(SubscriberOut):
    source: str
    time_zone: str | None
    unsubscribed_at: datetime | None
    history: list[EventOut] = Field(description="newest first")
    deliveries: list[DeliveryOut] = Field(description="newest first")


class SubscriberCreate(Request):
    email: Email
    name: Name = ""
    confirmed: bool = Field(
        default=False,
        description="true: they already agreed, active at once; false: pending, a confirmation email is sent",
    )


AddOutcome = Literal["added", "existing", "confirmation_sent", "already_subscribed", "too_many_confirmations"]


class SubscriberCreated(SubscriberOut):
    outcome: AddOutcome = Field(
        description="confirmed: true gives added or existing; false one of the other three"
    )


class SubscriberPatch(Request):
    """Only the keys given change (null: keep)."""

    email: Email | None = None
    name: Name | None = None
    status: SubscriberStatus | None = None
    tags: list[Annotated[str, Field(max_length=50)]] | None = Field(
        default=None, max_length=100, description="the reader's tags become exactly these")
    fields: dict[str, str | float | bool | None] | None = Field(
        default=None, max_length=100, description="field key -> value; null clears one; keys not given are kept")


# -- sources


class SourceOut(BaseModel):
    id: int
    kind: Literal["feed", "folder"] = Field(description="folders are added on the server's command line only")
    location: str
    title: str
    interval_minutes: int
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    last_error: str | None = Field(description="the last poll's problem, or null when it worked in full")
    article_count: int


class SourceList(BaseModel):
    items: list[SourceOut]
    total: int


class SourceCreate(Request):
    location: Annotated[
        str,
        Field(min_length=1, max_length=1000, description="an http:// or https:// RSS or Atom feed on the public internet"),
        AfterValidator(_storable),
    ]
    interval_minutes: int = Field(default=60, ge=1, le=525_600, description="minutes between polls")


class PollStarted(BaseModel):
    id: int = Field(description="the source")
    status: Literal["started"] = "started"
    message: str


class UnsuppressRequest(Request):
    email: Annotated[str, Field(min_length=1, max_length=320, description="the suppressed address"),
                     AfterValidator(_storable)]


class Unsuppressed(BaseModel):
    """An address taken off the suppression list, and what became of its reader."""

    email: str
    unsuppressed: Literal[True] = True
    reason: str = Field(description="why it was on the list: bounced, complained, erased or manual")
    subscriber_id: int | None = Field(description="the reader with this address; null: none")
    previous_status: SubscriberStatus | None
    status: SubscriberStatus | None = Field(
        description="now: a bounced or complained reader is active again (pending if never confirmed)")


# -- query and path parameters shared by the routers

Limit = Annotated[int, Query(ge=1, le=200, description="at most this many items")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="skip this many items")]
IssueId = Annotated[int, Path(ge=1, le=MAX_ID)]
ArticleId = Annotated[int, Path(ge=1, le=MAX_ID)]
SubscriberId = Annotated[int, Path(ge=1, le=MAX_ID)]
SourceId = Annotated[int, Path(ge=1, le=MAX_ID)]
