"""Old delivered and failed webhook messages are deleted with their attempts; pending ones and
recent ones stay (the outbox gains a row per delivery per endpoint when `sent` is wanted)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.webhooks.endpoints import create_endpoint
from newsletter.webhooks.messages import KEEP, prune
from newsletter.webhooks.models import MessageStatus, WebhookAttempt, WebhookMessage

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)


def test_old_finished_messages_go_with_their_attempts_and_the_rest_stay(sessions: sessionmaker[Session]) -> None:
    endpoint = create_endpoint(sessions, "https://hooks.example.com/in", "sent", allow_private=False)
    old, recent = NOW - KEEP - timedelta(minutes=1), NOW - KEEP + timedelta(minutes=1)
    rows = [("old-delivered", MessageStatus.DELIVERED, old), ("old-failed", MessageStatus.FAILED, old),
            ("old-pending", MessageStatus.PENDING, old), ("recent-delivered", MessageStatus.DELIVERED, recent)]
    with sessions.begin() as session:
        for name, status, created in rows:
            message = WebhookMessage(endpoint_id=endpoint.id, msg_id=f"msg_{name}", event_type="sent", payload="{}",
                                     status=status, attempts=1, created_at=created)
            session.add(message)
            session.flush()
            session.add(WebhookAttempt(message_id=message.id, attempted_at=created, code=200, duration_ms=3))

    assert prune(sessions, NOW) == 2
    assert prune(sessions, NOW) == 0  # nothing left to prune: a second pass changes nothing
    with sessions() as session:
        left = set(session.scalars(select(WebhookMessage.msg_id)))
        attempts = session.scalar(select(func.count()).select_from(WebhookAttempt))
    assert left == {"msg_old-pending", "msg_recent-delivered"}
    assert attempts == 2
