"""The composition root: builds every part once from the Settings and hands them out explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter.accounts.api_tokens import ApiTokens
from newsletter.audience.service import Audience
from newsletter.mail.backends import Backend
from newsletter.config import Settings
from newsletter.mail.links import Links
from newsletter.media.store import Media, media_of
from newsletter.issues.publishing import Publisher
from newsletter.delivery.runtime import SendingParts
from newsletter.delivery.store import SqlDeliveryStore
from newsletter.readers.subscriptions import Subscriptions
from newsletter.readers.suppression import SuppressionList
from newsletter.mail.tokens import Tokens


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    backend: Backend
    tokens: Tokens
    links: Links
    store: SqlDeliveryStore
    subscriptions: Subscriptions
    publisher: Publisher
    suppression: SuppressionList
    api_tokens: ApiTokens
    media: Media
    audience: Audience
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def build(cls, settings: Settings, backend: Backend | None = None, run_migrations: bool = True) -> Services:
        parts = SendingParts.build(settings, backend, run_migrations)
        sessions = parts.sessions
        return cls(
            settings=settings,
            engine=parts.engine,
            sessions=sessions,
            backend=parts.backend,
            tokens=parts.tokens,
            links=parts.links,
            store=parts.store,
            subscriptions=Subscriptions(sessions, settings, parts.backend, parts.links, parts.suppression),
            suppression=parts.suppression,
            publisher=Publisher(sessions, settings, parts.store, parts.links),
            api_tokens=ApiTokens(sessions),
            media=media_of(settings),
            audience=Audience(sessions),
        )

    def close(self) -> None:
        if not self._closed:
            self.backend.close()
            self.store.close()
            self.engine.dispose()
            self._closed = True
