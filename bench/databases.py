"""The PostgreSQL database each benchmark starts from (dropped and created afresh), and its readers."""

from __future__ import annotations

from sqlalchemy import Connection, create_engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db.base import utcnow
from newsletter.readers.models import Subscriber, SubscriberStatus

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
CHUNK = 50_000  # readers per INSERT


def fresh_postgres(name: str) -> str:
    """An empty database ``name`` on the local server (any earlier one dropped); its URL."""
    admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{SERVER}/{name}"


def add_readers(sessions: sessionmaker[Session], count: int) -> None:
    """``count`` active readers, reader0@example.net upwards, CHUNK to a transaction."""
    now = utcnow()
    for start in range(0, count, CHUNK):
        with sessions.begin() as session:
            session.execute(insert(Subscriber), [
                {"email": f"reader{i}@example.net", "name": f"Reader {i}", "status": SubscriberStatus.ACTIVE,
                 "source": "bench", "attributes": {}, "created_at": now, "confirmations_sent": 0}
                for i in range(start, min(start + CHUNK, count))
            ])
    with sessions.begin() as session:
        subscribe_all(session.connection())


def subscribe_all(conn: Connection) -> None:
    """Every reader subscribed to the first list (a send reaches a list's subscribers), in one statement."""
    conn.execute(text("INSERT INTO subscription (list_id, subscriber_id, status, created_at) "
                      "SELECT 1, id, 'active', created_at FROM subscriber WHERE true "
                      "ON CONFLICT (list_id, subscriber_id) DO NOTHING"))
