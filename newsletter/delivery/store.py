"""Named queries for the send engine: the Delivery table is the queue.

Claims take a batch with a lease: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets many workers on
many machines claim side by side; SQLite ignores the locking clause and its single writer makes
the claim atomic. A crashed worker's rows come back when the lease expires.

The database is the one clock: lease expiry, due retries and a delivery's age are read and
written with the database's time (``db_now``), never a worker's own, so workers whose clocks
disagree neither steal a live lease nor wait for a retry that is due. (Measured on each worker's
own clock: two workers 20 minutes apart, 5 s leases, mailed 200 of 3,000 readers twice, the one
ahead taking the other's batches in flight; tests/integration/test_worker_clock_skew.py.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ParamSpec, TypeVar, cast

from sqlalchemy import CursorResult, Table, and_, exists, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.issues.list_profile import effective_settings
from newsletter.lists.catalog import profile_for
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.readers.suppression import SuppressionList
from newsletter.db.sql import one_of
from newsletter.delivery.db_clock import db_now
from newsletter.delivery.enqueue import Audience, add_readers
from newsletter.delivery.held import HeldConnection
from newsletter.delivery.outcomes import outcome_params, outcomes_by_row, outcomes_from_arrays
from newsletter.delivery import issue_reads, pace_queries, tally
from newsletter.delivery.progress import read_progress
from newsletter.delivery.types import Claim, ClaimBatch, DomainCount, IssueBody, Outcome, PaceChange, PaceState, Progress
from newsletter.delivery.types import StoreUnavailable
from newsletter.db.base import utcnow
from newsletter.delivery.models import Delivery, DeliveryStatus, DomainTally
from newsletter.issues.models import Issue, IssueStatus
from newsletter.readers.models import Subscriber
from newsletter.readers.standing import hard_bounced
from newsletter.schedule.models import CycleState, WeeklyCycle
from newsletter.webhooks.emit import emit, emit_sent, endpoints_for
from newsletter.abtests.models import AbState, AbTest

UNFINISHED = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)
# An issue is sent once: only these can start a send (``enqueue``) ...
STARTABLE = (IssueStatus.DRAFT, IssueStatus.SCHEDULED)
# ... and only a send under way takes more readers (``enqueue_more``).
UNDER_WAY = (IssueStatus.SENDING, IssueStatus.PAUSED)
P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
# Who a send queues, in its transaction after the guard on the issue row: deliveries created.
Fill = Callable[[Session], int]


def _mapped_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Database errors leave the store as StoreUnavailable, so the engine needs no SQLAlchemy."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except DBAPIError as exc:
            if not exc.connection_invalidated and not _is_connection_error(exc):
                raise
            raise StoreUnavailable(f"lost the database connection: {exc.orig}") from exc

    return wrapper


def _is_connection_error(exc: DBAPIError) -> bool:
    name = type(exc.orig).__name__
    return name in {"OperationalError", "InterfaceError", "AdminShutdown", "ConnectionFailure"}


class SqlDeliveryStore:
    """The Store the dispatcher depends on, on SQLAlchemy; the dispatcher itself has no SQL."""

    def __init__(self, sessions: sessionmaker[Session], suppression: SuppressionList) -> None:
        self._sessions = sessions
        self._suppression = suppression
        self._held = HeldConnection(sessions.kw["bind"])  # for record(): once a second and at each claim's end
        # The webhook endpoints that want `sent`, read once per claim (None: not read yet), so the
        # outcome writes cost nothing more when nobody wants it.
        self._sent_hooks: list[int] | None = None

    def close(self) -> None:
        """Hand back the connection record() holds (before the engine is disposed)."""
        self._held.close()

    def enqueue(
        self, issue_id: int, zones: Sequence[str] | None = None, default_zone: str | None = None,
        audience: Audience | None = None, fill: Fill | None = None,
    ) -> int | None:
        """Start the send: the issue goes from draft or scheduled to sending and one Delivery per
        active reader is created, in one transaction. Returns the deliveries created, or None
        (nothing changed) when the issue is not a draft or scheduled: an issue is sent once.

        The state change is a compare-and-set (``UPDATE ... WHERE status IN (draft, scheduled)``)
        taken first, so of two sends at once one moves the issue and queues, the other (waiting
        on the row lock on PostgreSQL, on the write lock on SQLite) finds it sending and gets
        None. ``zones``: see ``enqueue.add_readers`` (the first wave of a local-time send).
        ``audience``: a segment (its id, kept on the issue, and its compiled filter): only its readers.
        ``fill``: who is queued, in the transaction after the guard, instead of ``add_readers``
        (an A/B test's share, ``abtests.queue``); returns the deliveries it created.
        """
        return self._enqueue(issue_id, STARTABLE, IssueStatus.SENDING, zones, default_zone, audience, fill)

    def enqueue_more(
        self, issue_id: int, zones: Sequence[str] | None = None, default_zone: str | None = None,
        audience: Audience | None = None, fill: Fill | None = None,
    ) -> int | None:
        """Add readers to a send under way (the later waves of a local-time send, a send the
        scheduler resumes after a crash): only an issue that is sending or paused, whose status
        stays as it is. Returns the deliveries created, or None when the issue is not under way
        (a draft, sent, cancelled): a sent or cancelled issue never gets readers again.
        ``fill``: as for ``enqueue`` (an A/B test's decision queues the rest, ``abtests.decide``).
        """
        return self._enqueue(issue_id, UNDER_WAY, None, zones, default_zone, audience, fill)

    def _enqueue(
        self, issue_id: int, allowed: Sequence[IssueStatus], to: IssueStatus | None,
        zones: Sequence[str] | None, default_zone: str | None, audience: Audience | None = None,
        fill: Fill | None = None,
    ) -> int | None:
        with self._sessions.begin() as session:
            # The guard first: its row lock orders this against a concurrent send, cancel or
            # pause, and nobody is queued when it fails. ``to`` None keeps the status (the
            # UPDATE then only checks and locks). Measured: the issue row updated before the
            # INSERT does not slow the INSERT's foreign-key checks (100k readers, either order
            # 1.5-1.9 s on PostgreSQL).
            guard = update(Issue).where(Issue.id == issue_id, Issue.status.in_(allowed))
            if to is not None:  # a send starts: it remembers its segment for later waves
                guard = guard.values(status=to, sent_at=None, segment_id=audience.segment_id if audience else None)
            else:
                guard = guard.values(status=Issue.status)
            moved = session.execute(guard, execution_options={"synchronize_session": False})
            if not cast("CursorResult[Any]", moved).rowcount:
                return None
            if fill is not None:
                return fill(session)
            return add_readers(session, issue_id, zones, default_zone, audience.where if audience else None)

    @_mapped_errors
    def claim(
        self, worker: str, limit: int, lease_seconds: int, after_id: int = 0, retries: bool = True,
        size: Callable[[int], int] | None = None,
    ) -> ClaimBatch:
        """Lease up to ``limit`` deliveries of issues that are sending.

        Due retries and rows whose lease expired come first (found by time on their own small
        indexes); the rest are queued rows after ``after_id``, the worker's keyset cursor, so a
        claim never rescans rows already sent. The result's ``cursor`` is where to go on from.
        ``retries=False`` skips the look for due retries (workers look every few seconds).
        ``size``: the limit as a function of how many rows are queued right now (the tally, read
        in this transaction), for a worker that takes its share of what is left.

        Every time here is the database's: what is due or expired, the lease's end, and the
        result's ``now`` (returned with the claimed rows, no extra round trip), the clock for
        this batch's outcomes.
        """
        sending = select(Issue.id).where(Issue.status == IssueStatus.SENDING)
        table = cast("Table", Delivery.__table__)
        with self._sessions.begin() as session:
            # Core statements on the session's connection: the ORM layer cost more than the
            # queries themselves on the hot path.
            conn = session.connection()
            now = db_now(conn.dialect.name)
            self._sent_hooks = endpoints_for(conn, "sent")
            if size is not None:
                limit = size(int(conn.scalar(tally.queued_of(sending)) or 0))
            retry = or_(
                and_(Delivery.status == DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= now),
                and_(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_expires_at < now),
            )
            ids = list(conn.scalars(
                select(table.c.id).where(retry, table.c.issue_id.in_(sending))
                .order_by(table.c.id).limit(limit).with_for_update(skip_locked=True)
            )) if retries else []
            fresh: list[int] = []
            if len(ids) < limit:
                fresh = list(conn.scalars(
                    select(table.c.id)
                    .where(table.c.status == DeliveryStatus.QUEUED.value, table.c.id > after_id,
                           table.c.issue_id.in_(sending))
                    .order_by(table.c.id).limit(limit - len(ids)).with_for_update(skip_locked=True)
                ))
            if not ids and not fresh:
                return ClaimBatch([], after_id)
            claimed = conn.execute(
                update(table)
                # Re-checked here: SQLite takes no row locks on SELECT, so another claim may have
                # taken a row between the SELECT and this UPDATE; it is then simply not returned.
                .where(one_of(table.c.id, ids + fresh, conn.dialect.name),
                       or_(table.c.status == DeliveryStatus.QUEUED.value, retry))
                .values(status=DeliveryStatus.SENDING.value, lease_owner=worker,
                        lease_expires_at=db_now(conn.dialect.name, lease_seconds))
                .returning(table.c.id, table.c.issue_id, table.c.subscriber_id, table.c.attempts,
                           table.c.created_at, table.c.next_attempt_at, table.c.variant, now.label("db_now"))
            ).all()
            subscribers = cast("Table", Subscriber.__table__)
            readers = {
                row.id: (row.email, row.name)
                for row in conn.execute(
                    select(subscribers.c.id, subscribers.c.email, subscribers.c.name).where(
                        one_of(subscribers.c.id, [c.subscriber_id for c in claimed], conn.dialect.name)
                    )
                )
            }
        claims = [
            Claim(c.id, c.issue_id, c.subscriber_id, *readers[c.subscriber_id], attempts=c.attempts,
                  queued_at=c.created_at, retry_at=c.next_attempt_at, variant=c.variant)
            for c in claimed
        ]
        claims.sort(key=lambda c: c.delivery_id)
        return ClaimBatch(claims, max(fresh, default=after_id), claimed[0].db_now if claimed else None)

    @_mapped_errors
    def record(self, worker: str, outcomes: Sequence[Outcome], domains: Sequence[DomainCount] = ()) -> None:
        """Write a group of outcomes in one transaction (not a commit per message), on the
        connection this store holds for it.

        Only rows this worker still leases are written: if its lease ran out and another worker
        took a row over, that worker's outcome is the one that counts. ``domains``: what the
        batch adds to the paced domain groups' counts, in the same transaction. Both the counts
        and the standing of bounced readers change only with rows this call wrote, so a group
        recorded twice (a journal replayed after its worker wrote it) changes nothing twice.
        """
        if not outcomes:
            return
        with self._held.transaction() as connection:
            if connection.dialect.name == "postgresql":
                # One statement for the batch: the tally trigger then fires once and locks its
                # rows in order; a statement per row could deadlock two workers on the tally.
                written = set(connection.exec_driver_sql(*outcomes_from_arrays(worker, outcomes)).scalars())
            else:
                # SQLite has one writer: the rows still leased now are the rows the UPDATE writes.
                table = cast("Table", Delivery.__table__)
                written = set(connection.scalars(select(table.c.id).where(
                    table.c.id.in_([o.delivery_id for o in outcomes]), table.c.lease_owner == worker)))
                connection.execute(outcomes_by_row(worker), outcome_params(outcomes))
            if not written:
                # Already recorded (a journal replayed twice) or taken over: the counts and the
                # readers' standing were changed by whoever wrote those rows.
                return
            pace_queries.add_tallies(connection, domains)
            if self._sent_hooks is None:  # a journal replayed before this store's first claim
                self._sent_hooks = endpoints_for(connection, "sent")
            if self._sent_hooks:
                emit_sent(connection, self._sent_hooks,
                          [o.delivery_id for o in outcomes if o.status is DeliveryStatus.SENT and o.delivery_id in written])
            bounced = [
                (o.subscriber_id, f"refused when sending: {o.code or ''} {o.reply or ''}".strip())
                for o in outcomes if o.status is DeliveryStatus.BOUNCED and o.delivery_id in written
            ]
            if bounced:
                # The readers' standing changes by the same rules as for a bounce mailed back
                # (readers.standing), in this transaction: bounced, suppressed, an event each.
                with Session(bind=connection) as session:  # joins the transaction, commits nothing
                    hard_bounced(session, self._suppression, bounced)
                    session.flush()

    @_mapped_errors
    def extend_lease(self, worker: str, delivery_ids: Sequence[int], lease_seconds: int) -> set[int]:
        """Lease rows this worker still holds for another ``lease_seconds`` (the database's clock);
        returns those it still holds. A claim sent slower than its lease (a low rate limit, a slow
        relay) renews it at half its lease, so no other worker takes over rows about to be sent."""
        if not delivery_ids:
            return set()
        table = cast("Table", Delivery.__table__)
        with self._sessions.begin() as session:
            conn = session.connection()
            return set(conn.scalars(
                update(table)
                .where(one_of(table.c.id, list(delivery_ids), conn.dialect.name), table.c.lease_owner == worker,
                       table.c.status == DeliveryStatus.SENDING.value)
                .values(lease_expires_at=db_now(conn.dialect.name, lease_seconds))
                .returning(table.c.id)
            ))

    @_mapped_errors
    def release(self, worker: str, delivery_ids: Sequence[int]) -> None:
        """Hand claimed rows back untouched (the backend could not send at all)."""
        if not delivery_ids:
            return
        with self._sessions.begin() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(delivery_ids), Delivery.lease_owner == worker,
                       Delivery.status == DeliveryStatus.SENDING)
                .values(status=DeliveryStatus.QUEUED, lease_owner=None, lease_expires_at=None)
            )

    @_mapped_errors
    def finish_issues(self) -> list[int]:
        """Mark issues whose every delivery reached an end state as sent.

        Not while the weekly cycle still has local-time waves to queue for the issue (its week
        is sending and not yet dispatched), nor while its A/B test waits for the decision that
        sends the winner to the rest: a sent issue never takes readers again, so the later
        waves need it to stay sending until the last one is queued.
        """
        open_rows = exists().where(Delivery.issue_id == Issue.id, Delivery.status.in_(UNFINISHED))
        waves_to_come = exists().where(WeeklyCycle.issue_id == Issue.id, WeeklyCycle.state == CycleState.SENDING,
                                       WeeklyCycle.dispatched_at.is_(None))
        winner_to_come = exists().where(AbTest.issue_id == Issue.id, AbTest.state == AbState.TESTING.value)
        finished = and_(Issue.status == IssueStatus.SENDING, ~open_rows, ~waves_to_come, ~winner_to_come)
        with self._sessions.begin() as session:
            done = list(session.scalars(select(Issue.id).where(finished)))
            if done:
                # Re-checked: a cancel or pause in between keeps its state.
                marked = session.execute(
                    update(Issue).where(Issue.id.in_(done), finished).values(status=IssueStatus.SENT, sent_at=utcnow())
                    .returning(Issue.id, Issue.number, Issue.subject),
                    execution_options={"synchronize_session": False},
                ).all()
                emit(session, "issue.sent", [{"issue_id": i, "number": n, "subject": subject} for i, n, subject in marked])
            return done

    @_mapped_errors
    def pace_states(self) -> tuple[datetime, list[PaceState]]:
        """Every domain group's pacing state and the database's time (delivery/pacing.py)."""
        with self._sessions() as session:
            conn = session.connection()
            return pace_queries.pace_states(conn, db_now(conn.dialect.name))

    @_mapped_errors
    def update_paces(self, domains: Sequence[str], change: PaceChange[T]) -> T | None:
        """Change domain groups' pacing states by compare-and-set (delivery/pace_queries.py)."""
        return pace_queries.update_paces(self._sessions, db_now, domains, change)

    @_mapped_errors
    def has_work(self) -> bool:
        """Whether any delivery of a sending issue is queued, leased or deferred."""
        sending = select(Issue.id).where(Issue.status == IssueStatus.SENDING)
        with self._sessions() as session:
            return bool(session.scalar(
                select(exists().where(Delivery.status.in_(UNFINISHED), Delivery.issue_id.in_(sending)))
            ))

    @_mapped_errors
    def issue_body(self, issue_id: int, variant: int | None = None) -> IssueBody:
        """The issue as rendered; with ``variant``, under that A/B subject (the rest is the same)."""
        with self._sessions() as session:
            return issue_reads.issue_body(session, issue_id, variant)

    @_mapped_errors
    def sending_settings(self, settings: Settings, issue_id: int | None = None) -> Settings:
        """The Settings with the editor's list name and From address (read per issue compiled):
        those of the issue's list when one is given (lists.catalog.list_profile)."""
        list_id = FIRST_LIST_ID
        if issue_id is not None:
            with self._sessions() as session:
                list_id = issue_reads.list_of(session, issue_id)
        return effective_settings(settings, profile_for(self._sessions, settings, list_id))

    def counts(self, issue_id: int) -> dict[str, int]:
        with self._sessions() as session:
            return tally.counts(session, issue_id)

    def progress(self, issue_id: int) -> Progress:
        """Counts per state, the current send rate and the time left at that rate."""
        with self._sessions() as session:
            return read_progress(session, issue_id)

    def set_issue_status(self, issue_id: int, to: IssueStatus, allowed_from: Sequence[IssueStatus]) -> bool:
        """Move an issue between send states; False when it is not in one of ``allowed_from``."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(Issue).where(Issue.id == issue_id, Issue.status.in_(allowed_from)).values(status=to)
            )
            return bool(cast("CursorResult[Any]", result).rowcount)

    def cancel(self, issue_id: int) -> int | None:
        """Cancel a send: what is not sent yet is skipped. None when the issue cannot be cancelled.

        Rows a worker holds right now finish and are recorded as they end.
        """
        with self._sessions.begin() as session:
            moved = session.execute(
                update(Issue)
                .where(Issue.id == issue_id,
                       Issue.status.in_([IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SCHEDULED]))
                .values(status=IssueStatus.CANCELLED)
            )
            if not cast("CursorResult[Any]", moved).rowcount:
                return None
            skipped = session.execute(
                update(Delivery)
                .where(Delivery.issue_id == issue_id,
                       Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED]))
                .values(status=DeliveryStatus.SKIPPED, last_reply="cancelled by the editor",
                        next_attempt_at=None),
                execution_options={"preserve_rowcount": True},
            )
            # Nothing of the issue waits any more, for any domain.
            session.execute(update(DomainTally).where(DomainTally.issue_id == issue_id).values(deferred=0))
            return cast("CursorResult[Any]", skipped).rowcount or 0
