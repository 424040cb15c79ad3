"""The SQL behind per-domain pacing (the rules are in pacing.py): the shared ``domain_pace`` state
written by compare-and-set, and the per-issue ``domain_tally`` counts.

Compare-and-set on ``version`` rather than a lock held across the worker's own work: the state
is read and written in one short transaction, and a worker that lost the race reads again. On
PostgreSQL the losing UPDATE waits for the winner's commit and then matches no row; on SQLite
the single writer orders them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, CursorResult, Row, Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db.sql import insert_for
from newsletter.errors import Conflict
from newsletter.delivery.models import DomainPace, DomainTally
from newsletter.delivery.pacing import current_rate
from newsletter.delivery.types import DomainCount, DomainProgress, PaceChange, PaceState

T = TypeVar("T")
CAS_TRIES = 5
_COLUMNS = ("rate", "ceiling", "changed_at", "next_slot", "booked_until", "paused_until", "strikes")


class _Conflict(Conflict):
    """Another worker wrote a group's state in between: roll back and read again (never leaves
    this module: ``update_paces`` retries)."""


def _pace() -> Table:
    return cast("Table", DomainPace.__table__)


def _tally() -> Table:
    return cast("Table", DomainTally.__table__)


def _state(row: Row[Any]) -> PaceState:
    return PaceState(row.domain, row.rate, row.ceiling, row.changed_at, row.next_slot, row.booked_until,
                     row.paused_until, row.strikes, row.version)


def pace_states(conn: Connection, now: Any) -> tuple[datetime, list[PaceState]]:
    """The database's time and every group's state (a handful of rows)."""
    moment: datetime = conn.execute(select(now)).scalar_one()
    return moment, [_state(row) for row in conn.execute(select(_pace()))]


def update_paces(sessions: sessionmaker[Session], clock: Callable[[str], Any], domains: Sequence[str],
                 change: PaceChange[T]) -> T | None:
    """Read, change and write the groups' states by compare-and-set; None after CAS_TRIES races.

    ``clock(dialect)``: the database's time in SQL (db_clock.db_now).
    """
    table = _pace()
    for _ in range(CAS_TRIES):
        try:
            with sessions.begin() as session:
                conn = session.connection()
                now = clock(conn.dialect.name)
                rows = conn.execute(select(table, now.label("db_now")).where(table.c.domain.in_(list(domains)))).all()
                moment: datetime = rows[0].db_now if rows else conn.execute(select(now)).scalar_one()
                stored = {row.domain: _state(row) for row in rows}
                states, result = change(moment, stored)
                for state in sorted(states.values(), key=lambda s: s.domain):  # one lock order for all
                    _write(conn, state, stored.get(state.domain))
                return result
        except _Conflict:
            continue
    return None


def _write(conn: Connection, state: PaceState, old: PaceState | None) -> None:
    table = _pace()
    values = {name: getattr(state, name) for name in _COLUMNS}
    if old is None:
        insert = insert_for(conn.dialect.name)
        statement: Any = insert(table).values(domain=state.domain, version=1, **values).on_conflict_do_nothing()
    else:
        if values == {name: getattr(old, name) for name in _COLUMNS}:
            return  # nothing changed: no write, no race
        statement = (update(table).where(table.c.domain == state.domain, table.c.version == old.version)
                     .values(version=old.version + 1, **values))
    # preserve_rowcount: psycopg 3 may report -1 rows for an INSERT otherwise.
    if cast("CursorResult[Any]", conn.execute(statement, execution_options={"preserve_rowcount": True})).rowcount != 1:
        raise _Conflict(state.domain)


def add_tallies(conn: Connection, counts: Sequence[DomainCount]) -> None:
    """Add a batch's per-domain counts, in key order (two workers never lock them crosswise)."""
    counts = [c for c in counts if c.sent or c.deferred]
    if not counts:
        return
    table = _tally()
    insert = insert_for(conn.dialect.name)
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["issue_id", "domain"],
        set_={"sent": table.c.sent + statement.excluded.sent, "deferred": table.c.deferred + statement.excluded.deferred},
    )
    conn.execute(statement, [
        {"issue_id": c.issue_id, "domain": c.domain, "sent": c.sent, "deferred": c.deferred}
        for c in sorted(counts, key=lambda c: (c.issue_id, c.domain))
    ])


def domain_progress(session: Session, issue_id: int, now: datetime) -> dict[str, DomainProgress]:
    """The issue's paced groups: sent, waiting, and the rate each may be sent at now.

    Read from the tally (the issue's rows, by primary key) and the groups' states: a few rows
    however large the send.
    """
    tallies = session.execute(
        select(DomainTally.domain, DomainTally.sent, DomainTally.deferred)
        .where(DomainTally.issue_id == issue_id).order_by(DomainTally.domain)
    ).all()
    if not tallies:
        return {}
    table = _pace()
    states = {row.domain: _state(row) for row in session.execute(
        select(table).where(table.c.domain.in_([t.domain for t in tallies])))}
    return {
        t.domain: DomainProgress(
            int(t.sent), max(int(t.deferred), 0),
            round(current_rate(states[t.domain], now), 2) if t.domain in states else None,
        )
        for t in tallies
    }
