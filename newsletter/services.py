"""The composition root: builds every part once from the Settings and hands them out explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter.accounts.api_tokens import ApiTokens
from newsletter.mail.backends import Backend
from newsletter.mail.backends.registry import load_backend
from newsletter.config import Settings
from newsletter.db.engine import make_engine, migrate, session_factory
from newsletter.mail.links import Links
from newsletter.media.store import Media, media_of
from newsletter.issues.publishing import Publisher
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
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def build(cls, settings: Settings, backend: Backend | None = None, run_migrations: bool = True) -> Services:
        engine = make_engine(settings.database)
        if run_migrations:
            migrate(engine)
        sessions = session_factory(engine)
        backend = backend or load_backend(settings)
        tokens = Tokens(settings.secret_key)
        links = Links(settings, tokens)
        suppression = SuppressionList(settings.secret_key)
        store = SqlDeliveryStore(sessions, suppression)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            backend=backend,
            tokens=tokens,
            links=links,
            store=store,
            subscriptions=Subscriptions(sessions, settings, backend, links, suppression),
            suppression=suppression,
            publisher=Publisher(sessions, settings, store, links),
            api_tokens=ApiTokens(sessions),
            media=media_of(settings),
        )

    def close(self) -> None:
        if not self._closed:
            self.backend.close()
            self.engine.dispose()
            self._closed = True
