"""Small builders for test rows, so each test says only what matters to it."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from newsletter.content.models import Article
from newsletter.db.base import utcnow
from newsletter.readers.models import Subscriber, SubscriberStatus

if TYPE_CHECKING:
    from newsletter.mail.backends import OutgoingMessage
    from newsletter.services import Services


def add_article(
    sessions: sessionmaker[Session], title: str, published_at: datetime | None = None, **fields: object
) -> int:
    uid = hashlib.sha256(title.encode()).hexdigest()[:32]
    with sessions.begin() as session:
        article = Article(
            uid=uid,
            title=title,
            author=str(fields.pop("author", "A. Writer")),
            published_at=published_at or utcnow(),
            paragraphs=list(fields.pop("paragraphs", [f"The first paragraph of {title}.", "A second one."])),  # type: ignore[call-overload]
            pull_quotes=list(fields.pop("pull_quotes", [])),  # type: ignore[call-overload]
            content_hash=uid,
            **fields,
        )
        session.add(article)
        session.flush()
        return article.id


def add_subscribers(
    sessions: sessionmaker[Session], count: int, status: SubscriberStatus = SubscriberStatus.ACTIVE, prefix: str = "reader"
) -> list[int]:
    with sessions.begin() as session:
        rows = [
            Subscriber(email=f"{prefix}{i}@example.net", name=f"Reader {i}", status=status, source="test")
            for i in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def week_ago() -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=7)


def mail_an_issue(services: Services, *readers: str) -> dict[str, OutgoingMessage]:
    """Add these readers, send them one issue through a worker on the services' (memory)
    backend; returns the message each was sent (its .sender is their VERP bounce address)."""
    from newsletter.issues.compose import compose
    from newsletter.delivery.dispatch import Worker

    for reader in readers:
        services.subscriptions.add(reader)
    add_article(services.sessions, f"A piece for {', '.join(readers)}")
    issue = compose(services.sessions, services.settings).issue_id
    services.publisher.queue(issue)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    sent = {m.recipient: m for m in services.backend.sent}  # type: ignore[attr-defined]
    services.backend.clear()  # type: ignore[attr-defined]
    return sent
