"""The typed values and the Store interface shared by the send engine and its SQL store."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from newsletter.errors import Unavailable
from newsletter.delivery.models import DeliveryStatus

if TYPE_CHECKING:
    from newsletter.config import Settings


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 2.4 us against 0.5, made per message
class Claim:
    """A delivery leased to one worker, with what personalising it needs."""

    delivery_id: int
    issue_id: int
    subscriber_id: int
    email: str
    name: str
    attempts: int = 0
    queued_at: datetime | None = None
    # The row's next_attempt_at when claimed: set for a row that was deferred (a retry, or a slot
    # booked by per-domain pacing), None for a row claimed straight from the queue.
    retry_at: datetime | None = None
    variant: int | None = None  # the A/B subject of a test share's reader (abtests); else None


@dataclass(frozen=True, slots=True)
class ClaimBatch:
    claims: list[Claim]
    cursor: int  # the highest queued id this claim took: the next claim goes on after it
    # The database's time of the claim (None when nothing was claimed): the one clock for the
    # batch's outcomes (sent, next attempt, too old), never the worker's own.
    now: datetime | None = None


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 2.4 us against 0.5, made per message
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
    tracking: bool = False  # opens and clicks counted (decided when the issue was queued)
    list_slug: str | None = None  # the issue's list, None for the first: its unsubscribe links name it


@dataclass(frozen=True, slots=True)
class PaceState:
    """One domain group's pace, shared by every worker through the database (``domain_pace``).

    Times are the database's. ``rate`` is messages per second for the whole fleet as it was at
    ``changed_at`` (the last halving); it recovers from there towards ``ceiling`` (the pacing
    module's ``current_rate``). ``next_slot``: when the group's next message may go (a token
    bucket kept as a time); ``booked_until``: the end of the line of rows deferred to a slot.
    ``version`` makes each write a compare-and-set.
    """

    domain: str
    rate: float
    ceiling: float
    changed_at: datetime
    next_slot: datetime
    booked_until: datetime
    paused_until: datetime | None = None
    strikes: int = 0  # throttles in a row: each doubles the pause
    version: int = 0  # 0: not stored yet


@dataclass(frozen=True, slots=True)
class DomainCount:
    """What one recorded batch adds to a paced domain's counts for one issue."""

    issue_id: int
    domain: str
    sent: int
    deferred: int  # the change in rows waiting (deferred minus deferred rows claimed again)


@dataclass(frozen=True, slots=True)
class DomainProgress:
    sent: int
    deferred: int
    rate: float | None  # messages per second allowed right now; None: not paced


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a send stands: counts per delivery state, the current rate and the time left."""

    issue_id: int
    issue_status: str
    counts: dict[str, int]
    rate_per_second: float  # over the last minute
    eta_seconds: float | None  # None while nothing has been sent recently
    domains: dict[str, DomainProgress] = field(default_factory=dict)  # the paced domain groups

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return self.total - self.counts["queued"] - self.counts["sending"] - self.counts["deferred"]

    def as_dict(self) -> dict[str, object]:
        """The status document of the CLI's --json and the API: the counts are top-level keys."""
        return {"id": self.issue_id, "status": self.issue_status, **self.counts, "total": self.total,
                "rate_per_second": self.rate_per_second,
                "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds),
                "domains": {name: {"sent": d.sent, "deferred": d.deferred, "rate": d.rate}
                            for name, d in self.domains.items()}}


class StoreUnavailable(Unavailable):
    """The queue's database cannot be reached; leases run out and other workers take over."""


T = TypeVar("T")
# Given the database's time and the stored states of some groups (missing: never stored), the new
# states to store and what the caller wants back.
PaceChange = Callable[[datetime, Mapping[str, PaceState]], tuple[Mapping[str, PaceState], T]]


class PaceStore(Protocol):
    """Where the pacing module keeps the domain groups' shared state (the database)."""

    def pace_states(self) -> tuple[datetime, list[PaceState]]: ...  # the database's time and every state

    # Read the groups' states, apply ``change``, write what it returns by compare-and-set, all in
    # one transaction; on a concurrent write, read again and retry. None: still conflicting.
    def update_paces(self, domains: Sequence[str], change: PaceChange[T]) -> T | None: ...


class DeliveryStore(PaceStore, Protocol):
    def enqueue(self, issue_id: int) -> int | None: ...  # None: the issue was not a draft or scheduled

    def claim(
        self, worker: str, limit: int, lease_seconds: int, after_id: int = 0, retries: bool = True,
        size: Callable[[int], int] | None = None,
    ) -> ClaimBatch: ...

    def record(self, worker: str, outcomes: Sequence[Outcome], domains: Sequence[DomainCount] = ()) -> None: ...

    def release(self, worker: str, delivery_ids: Sequence[int]) -> None: ...

    def extend_lease(self, worker: str, delivery_ids: Sequence[int], lease_seconds: int) -> set[int]: ...

    def finish_issues(self) -> list[int]: ...

    def has_work(self) -> bool: ...

    def issue_body(self, issue_id: int, variant: int | None = None) -> IssueBody: ...

    def sending_settings(self, settings: Settings, issue_id: int | None = None) -> Settings: ...

    def counts(self, issue_id: int) -> dict[str, int]: ...
