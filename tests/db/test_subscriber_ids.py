"""An erased reader's id never goes to the next sign-up, so links in their old mail cannot act on
someone else (SQLite reuses the highest rowid unless the table is AUTOINCREMENT)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from newsletter.db.engine import alembic_config, make_engine, migrate
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services


def test_erased_readers_link_does_not_unsubscribe_the_next_sign_up(services: Services, client: TestClient) -> None:
    services.subscriptions.add("first@example.org")
    gone, _ = services.subscriptions.add("erased@example.org")  # the highest id: the one SQLite would reuse
    old_link = services.tokens.unsubscribe_token(gone.id)
    services.subscriptions.erase_subscriber(gone.id)

    newcomer, _ = services.subscriptions.add("newcomer@example.org")
    assert newcomer.id != gone.id

    client.post(f"/unsubscribe/{old_link}")
    with services.sessions() as session:
        status = session.scalar(select(Subscriber.status).where(Subscriber.email == "newcomer@example.org"))
    assert status is SubscriberStatus.ACTIVE


def test_upgrade_keeps_every_reader_and_what_points_at_them(tmp_path: Path) -> None:
    """The rebuild runs on databases that already hold readers, deliveries and history."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0011")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscriber (id, email, name, status, source, attributes, confirmations_sent, created_at) VALUES "
            "(1, 'a@example.org', '', 'active', 'web', '{}', 0, '2026-01-01 00:00:00'),"
            "(7, 'b@example.org', '', 'active', 'web', '{}', 0, '2026-01-01 00:00:00')"
        ))
        conn.execute(text(
            "INSERT INTO subscriber_event (subscriber_id, kind, detail, created_at) "
            "VALUES (7, 'subscribed', 'x', '2026-01-01 00:00:00')"
        ))

    migrate(engine)

    with engine.begin() as conn:
        ddl = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'subscriber'"))
        assert "AUTOINCREMENT" in ddl.upper()
        assert conn.scalar(text("SELECT count(*) FROM subscriber")) == 2
        assert conn.scalar(text("SELECT count(*) FROM subscriber_event WHERE subscriber_id = 7")) == 1
        assert conn.scalar(text("PRAGMA foreign_keys")) == 1  # restored after the rebuild
        conn.execute(text("DELETE FROM subscriber WHERE id = 7"))
        conn.execute(text(
            "INSERT INTO subscriber (email, name, status, source, attributes, confirmations_sent, created_at) "
            "VALUES ('c@example.org', '', 'active', 'web', '{}', 0, '2026-01-01 00:00:00')"
        ))
        assert conn.scalar(text("SELECT id FROM subscriber WHERE email = 'c@example.org'")) == 8
    engine.dispose()
