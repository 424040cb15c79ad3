"""The parts a worker sends with, built without the rest of the service.

``newsletter worker`` needs the database, the backend, the links signed into each message and the
delivery store; building the whole ``Services`` imported the renderer, the media library and the
web of use cases (Jinja2, MJML, Pillow, ...) into every worker for nothing. ``Services.build``
starts from these same parts, so they are wired in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.db.engine import make_engine, migrate, session_factory
from newsletter.delivery.store import SqlDeliveryStore
from newsletter.mail.backends import Backend
from newsletter.mail.backends.registry import load_backend
from newsletter.mail.links import Links
from newsletter.mail.tokens import Tokens
from newsletter.readers.suppression import SuppressionList


@dataclass
class SendingParts:
    engine: Engine
    sessions: sessionmaker[Session]
    backend: Backend
    tokens: Tokens
    links: Links
    suppression: SuppressionList
    store: SqlDeliveryStore
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def build(cls, settings: Settings, backend: Backend | None = None, run_migrations: bool = False) -> SendingParts:
        engine = make_engine(settings.database)
        if run_migrations:
            migrate(engine)
        sessions = session_factory(engine)
        tokens = Tokens(settings.secret_key)
        suppression = SuppressionList(settings.secret_key)
        return cls(
            engine=engine,
            sessions=sessions,
            backend=backend or load_backend(settings),
            tokens=tokens,
            links=Links(settings, tokens),
            suppression=suppression,
            store=SqlDeliveryStore(sessions, suppression),
        )

    def close(self) -> None:
        if not self._closed:
            self.backend.close()
            self.store.close()
            self.engine.dispose()
            self._closed = True
