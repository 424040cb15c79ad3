"""The batched UPDATE that records a worker's outcomes, in the form each database runs best.

Both forms write only rows the worker still leases: ``lease_owner = worker`` is the whole guard,
since recording clears the owner and a takeover replaces it. (A status test beside it led
PostgreSQL to scan the lease index instead of joining on the primary key.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import DateTime, Integer, String, Table, Text, Update, bindparam, column, update, values
from sqlalchemy import cast as sql_cast

from newsletter.dispatch_types import Outcome
from newsletter.models import Delivery, UTCDateTime


def _table() -> Table:
    return cast("Table", Delivery.__table__)


def outcomes_from_values(worker: str, outcomes: Sequence[Outcome]) -> Update:
    """PostgreSQL: ``UPDATE delivery ... FROM (VALUES ...)``, one statement for the batch."""
    table = _table()
    rows = values(
        column("vid", Integer), column("vstatus", String), column("vattempts", Integer),
        column("vnext", UTCDateTime()), column("vcode", Integer), column("vreply", Text),
        column("vmid", String), column("vsent", UTCDateTime()),
        name="v",
    ).data([
        (o.delivery_id, o.status.value, o.attempts, o.next_attempt_at, o.code, o.reply[:2000], o.message_id, o.sent_at)
        for o in outcomes
    ])
    # A column of a VALUES list that is all NULL is typed text: the casts give it its real type.
    return (
        update(table)
        .where(table.c.id == rows.c.vid, table.c.lease_owner == worker)
        .values(
            status=rows.c.vstatus,
            attempts=rows.c.vattempts,
            next_attempt_at=sql_cast(rows.c.vnext, DateTime()),
            last_code=sql_cast(rows.c.vcode, Integer()),
            last_reply=sql_cast(rows.c.vreply, Text()),
            message_id=sql_cast(rows.c.vmid, String()),
            sent_at=sql_cast(rows.c.vsent, DateTime()),
            lease_owner=None,
            lease_expires_at=None,
        )
    )


def outcomes_by_row(worker: str) -> Update:
    """SQLite: one prepared UPDATE run for every row (executemany) inside one transaction."""
    table = _table()
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.lease_owner == worker)
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next", type_=UTCDateTime()),
            last_code=bindparam("b_code"),
            last_reply=bindparam("b_reply"),
            message_id=bindparam("b_message_id"),
            sent_at=bindparam("b_sent_at", type_=UTCDateTime()),
            lease_owner=None,
            lease_expires_at=None,
        )
    )


def outcome_params(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    return [
        {"b_id": o.delivery_id, "b_status": o.status.value, "b_attempts": o.attempts, "b_next": o.next_attempt_at,
         "b_code": o.code, "b_reply": o.reply[:2000], "b_message_id": o.message_id, "b_sent_at": o.sent_at}
        for o in outcomes
    ]
