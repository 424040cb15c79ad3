"""The typed values and the Store interface shared by the send engine and its SQL store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from newsletter.models import DeliveryStatus


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery leased to one worker, with what personalising it needs."""

    delivery_id: int
    issue_id: int
    subscriber_id: int
    email: str
    name: str
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery_id: int
    subscriber_id: int
    status: DeliveryStatus
    attempts: int
    code: int | None
    reply: str
    message_id: str | None
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssueBody:
    """An issue as rendered once: what the per-reader message template is compiled from."""

    issue_id: int
    subject: str
    preheader: str
    html: str
    text: str


class DeliveryStore(Protocol):
    def enqueue(self, issue_id: int) -> int: ...

    def claim(self, worker: str, limit: int, lease_seconds: int, now: datetime | None = None) -> list[Claim]: ...

    def record(self, worker: str, outcomes: Sequence[Outcome]) -> None: ...

    def release(self, worker: str, delivery_ids: Sequence[int]) -> None: ...

    def finish_issues(self) -> list[int]: ...

    def issue_body(self, issue_id: int) -> IssueBody: ...

    def counts(self, issue_id: int) -> dict[str, int]: ...
