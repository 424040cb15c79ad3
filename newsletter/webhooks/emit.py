"""Adding events to the outbox, in the caller's transaction: an event exists exactly when the change
it reports committed. Nothing here sends anything (the worker's deliverer does, ``deliver.py``).

The payload is the specification's recommended shape, ``{"type", "timestamp", "data"}``; ``data``
names the reader by ``subscriber_id`` and ``email``, and the issue by ``issue_id`` where there is one.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Text, cast as sql_cast, func, insert, literal, literal_column
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.db.sql import one_of, table_of
from newsletter.db.base import utcnow
from newsletter.delivery.db_clock import db_now
from newsletter.webhooks.models import MessageStatus, WebhookEndpoint, WebhookMessage


def new_msg_id() -> str:
    return f"msg_{secrets.token_hex(16)}"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def endpoints_for(connection: Connection, event: str) -> list[int]:
    """The enabled endpoints that asked for ``event`` (a handful of rows: filtered here, not in
    SQL, so the JSON column needs no per-database operator)."""
    rows = connection.execute(select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.enabled))
    return [endpoint_id for endpoint_id, events in rows if event in (events or [])]


def emit(session: Session, event: str, items: Sequence[Mapping[str, object]], *,
         endpoints: Sequence[int] | None = None) -> int:
    """Queue one message per item (its ``data``) for each endpoint that wants ``event``; returns
    how many. Adds to the caller's transaction; commits nothing and flushes nothing of the caller's."""
    if not items:
        return 0
    with session.no_autoflush:
        connection = session.connection()
        wanted = endpoints_for(connection, event) if endpoints is None else list(endpoints)
        if not wanted:
            return 0
        at = iso(utcnow())
        rows = [
            {"endpoint_id": endpoint_id, "msg_id": new_msg_id(), "event_type": event,
             "payload": json.dumps({"type": event, "timestamp": at, "data": dict(data)}, separators=(",", ":"),
                                   default=str),
             "status": MessageStatus.PENDING.value, "attempts": 0, "last_error": "", "created_at": utcnow()}
            for data in items for endpoint_id in wanted
        ]
        # Due at once by the database's clock, which the deliverer's claim compares with.
        connection.execute(insert(table_of(WebhookMessage)).values(next_attempt_at=db_now(connection.dialect.name)),
                           rows)
        return len(rows)


def emit_for_readers(session: Session, event: str, readers: Sequence[tuple[int, Mapping[str, object]]]) -> int:
    """``emit`` for readers: ``(subscriber_id, extra data)`` pairs; their addresses are read here
    (one SELECT, and only when some endpoint wants the event)."""
    from newsletter.readers.models import Subscriber

    if not readers:
        return 0
    with session.no_autoflush:
        wanted = endpoints_for(session.connection(), event)
        if not wanted:
            return 0
        ids = sorted({subscriber_id for subscriber_id, _ in readers})
        emails = {i: email for i, email in session.execute(select(Subscriber.id, Subscriber.email).where(Subscriber.id.in_(ids)))}
    items = [
        {"subscriber_id": subscriber_id, "email": emails.get(subscriber_id), **extra}
        for subscriber_id, extra in readers if subscriber_id in emails
    ]
    return emit(session, event, items, endpoints=wanted)


def emit_sent(connection: Connection, endpoint_ids: Sequence[int], delivery_ids: Sequence[int]) -> None:
    """``sent`` for a group of deliveries just recorded as sent: one INSERT ... SELECT for the whole
    group and every endpoint that wants it (the hot send path: no row per round trip). The payload
    and the message ids are made by the database."""
    from newsletter.delivery.models import Delivery
    from newsletter.readers.models import Subscriber

    if not endpoint_ids or not delivery_ids:
        return
    dialect = connection.dialect.name
    d, s, e = table_of(Delivery), table_of(Subscriber), table_of(WebhookEndpoint)

    def key(name: str) -> ColumnElement[str]:  # a constant typed as text (psycopg leaves bare parameters untyped)
        return literal_column(f"'{name}'", Text)

    if dialect == "postgresql":
        msg_id = key("msg_").concat(func.replace(sql_cast(func.gen_random_uuid(), Text), "-", ""))
        stamp = func.to_char(d.c.sent_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        build = func.json_build_object
    else:
        msg_id = key("msg_").concat(func.lower(func.hex(func.randomblob(16))))
        stamp = func.strftime("%Y-%m-%dT%H:%M:%fZ", d.c.sent_at)
        build = func.json_object
    data = build(key("subscriber_id"), s.c.id, key("email"), s.c.email, key("issue_id"), d.c.issue_id,
                 key("delivery_id"), d.c.id)
    payload = sql_cast(build(key("type"), key("sent"), key("timestamp"), stamp, key("data"), data), Text)
    now = db_now(dialect)
    rows = (
        select(e.c.id, key("sent"), msg_id, payload, key(MessageStatus.PENDING.value), literal(0), key(""),
               now, now)
        .select_from(d.join(s, s.c.id == d.c.subscriber_id).join(e, e.c.id.in_(list(endpoint_ids))))
        .where(one_of(d.c.id, delivery_ids, dialect))
    )
    connection.execute(insert(table_of(WebhookMessage)).from_select(
        ["endpoint_id", "event_type", "msg_id", "payload", "status", "attempts", "last_error", "created_at",
         "next_attempt_at"], rows))
