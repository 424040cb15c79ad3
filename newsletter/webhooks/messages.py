"""An endpoint's delivery log (its messages, newest first, each with its attempts) and replay."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import NotFound
from newsletter.webhooks.deliver import clock
from newsletter.db.base import utcnow
from newsletter.webhooks.endpoints import WebhookNotFound
from newsletter.webhooks.models import MessageStatus, WebhookAttempt, WebhookEndpoint, WebhookMessage


# Delivered and failed messages are kept this long for the log and replay, then deleted: with
# `sent` wanted, the outbox gains a row per delivery per endpoint.
KEEP = timedelta(days=30)
PRUNE_BATCH = 10_000


class WebhookMessageNotFound(NotFound):
    """No message has that id (for that endpoint)."""


@dataclass(frozen=True)
class AttemptInfo:
    at: datetime
    code: int | None
    error: str
    duration_ms: int


@dataclass(frozen=True)
class MessageInfo:
    id: str  # the msg_... id (webhook-id)
    endpoint_id: int
    event_type: str
    payload: str
    status: str
    attempts: int
    last_code: int | None
    last_error: str
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    log: list[AttemptInfo]  # oldest first


def endpoint_log(sessions: sessionmaker[Session], endpoint_id: int, limit: int = 50,
                 offset: int = 0) -> tuple[list[MessageInfo], int]:
    """The endpoint's messages, newest first, and how many it has."""
    with sessions() as session:
        if session.get(WebhookEndpoint, endpoint_id) is None:
            raise WebhookNotFound(f"there is no webhook endpoint {endpoint_id}")
        total = session.scalar(select(func.count()).where(WebhookMessage.endpoint_id == endpoint_id)) or 0
        rows = list(session.scalars(
            select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint_id)
            .order_by(WebhookMessage.id.desc()).limit(limit).offset(offset)))
        return _with_attempts(session, rows), total


def get_message(sessions: sessionmaker[Session], msg_id: str) -> MessageInfo:
    with sessions() as session:
        row = session.scalar(select(WebhookMessage).where(WebhookMessage.msg_id == msg_id))
        if row is None:
            raise WebhookMessageNotFound(f"there is no webhook message {msg_id[:60]}")
        return _with_attempts(session, [row])[0]


def replay(sessions: sessionmaker[Session], msg_id: str, endpoint_id: int | None = None,
           now: datetime | None = None) -> MessageInfo:
    """Queue a message again, whatever became of it: due at once, its back-off starting afresh
    (the same ``webhook-id``, so a receiver that already has it can tell)."""
    with sessions.begin() as session:
        where = [WebhookMessage.msg_id == msg_id]
        if endpoint_id is not None:
            where.append(WebhookMessage.endpoint_id == endpoint_id)
        dialect = session.get_bind().dialect.name
        moved = session.execute(
            update(WebhookMessage).where(*where)
            .values(status=MessageStatus.PENDING, attempts=0, next_attempt_at=clock(dialect, now))
            .returning(WebhookMessage.id)).first()
        if moved is None:
            raise WebhookMessageNotFound(f"there is no webhook message {msg_id[:60]}"
                                         + (f" for endpoint {endpoint_id}" if endpoint_id is not None else ""))
    return get_message(sessions, msg_id)


def _with_attempts(session: Session, rows: list[WebhookMessage]) -> list[MessageInfo]:
    attempts: dict[int, list[AttemptInfo]] = defaultdict(list)
    if rows:
        for a in session.scalars(select(WebhookAttempt).where(WebhookAttempt.message_id.in_([r.id for r in rows]))
                                 .order_by(WebhookAttempt.id)):
            attempts[a.message_id].append(AttemptInfo(a.attempted_at, a.code, a.error, a.duration_ms))
    return [
        MessageInfo(r.msg_id, r.endpoint_id, r.event_type, r.payload, r.status.value, r.attempts, r.last_code,
                    r.last_error, r.created_at, r.next_attempt_at, r.delivered_at, attempts[r.id])
        for r in rows
    ]


def prune(sessions: sessionmaker[Session], now: datetime | None = None, keep: timedelta = KEEP) -> int:
    """Delete delivered and failed messages older than ``keep``, with their attempts, a batch per
    transaction (short locks beside the deliverer); pending ones stay whatever their age.
    Returns how many were deleted."""
    before = (now or utcnow()) - keep
    done = 0
    while True:
        with sessions.begin() as session:
            ids = list(session.scalars(
                select(WebhookMessage.id).where(WebhookMessage.status.in_((MessageStatus.DELIVERED, MessageStatus.FAILED)),
                                                WebhookMessage.created_at < before)
                .order_by(WebhookMessage.id).limit(PRUNE_BATCH)))
            if not ids:
                return done
            session.execute(delete(WebhookAttempt).where(WebhookAttempt.message_id.in_(ids)))
            session.execute(delete(WebhookMessage).where(WebhookMessage.id.in_(ids)))
            done += len(ids)
