"""Small builders for test rows, so each test says only what matters to it."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from newsletter.content.models import Article
from newsletter.db.base import utcnow
from newsletter.lists.models import FIRST_LIST_ID, Subscription
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
    sessions: sessionmaker[Session], count: int, status: SubscriberStatus = SubscriberStatus.ACTIVE, prefix: str = "reader",
    list_id: int = FIRST_LIST_ID,
) -> list[int]:
    """``count`` readers of this standing, each with an active subscription to the list."""
    with sessions.begin() as session:
        rows = [
            Subscriber(email=f"{prefix}{i}@example.net", name=f"Reader {i}", status=status, source="test")
            for i in range(count)
        ]
        session.add_all(rows)
        session.flush()
        session.add_all([Subscription(list_id=list_id, subscriber_id=row.id) for row in rows])
        return [row.id for row in rows]


def subscribed(session: Session, *readers: Subscriber, list_id: int = FIRST_LIST_ID) -> None:
    """Give readers made by hand their subscription to the list (flushes them first)."""
    session.flush()
    session.add_all([Subscription(list_id=list_id, subscriber_id=reader.id) for reader in readers])


def week_ago(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=7)


def this_weeks_issue(services: Services, title: str, now: datetime | None = None, **fields: object) -> int:
    """One article published ``now`` (default: the clock, read once) and the issue of the week
    ``now`` falls in, composed from the same moment: never split by a week's end between the two."""
    from newsletter.issues.compose import compose

    now = now or utcnow()
    add_article(services.sessions, title, now, **fields)
    return compose(services.sessions, services.settings, now=now).issue_id


def mail_an_issue(services: Services, *readers: str, now: datetime | None = None) -> dict[str, OutgoingMessage]:
    """Add these readers, send them one issue (of the week ``now`` falls in) through a worker on
    the services' (memory) backend; returns the message each was sent (its .sender is their VERP
    bounce address)."""
    from newsletter.delivery.dispatch import Worker

    for reader in readers:
        services.subscriptions.add(reader)
    issue = this_weeks_issue(services, f"A piece for {', '.join(readers)}", now)
    services.publisher.queue(issue)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    sent = {m.recipient: m for m in services.backend.sent}  # type: ignore[attr-defined]
    services.backend.clear()  # type: ignore[attr-defined]
    return sent
