"""Migration 0023 on a copy of a populated database: existing data becomes the first list, and back."""

from __future__ import annotations

import os

import pytest
from alembic import command
from sqlalchemy import Engine, text

from newsletter.db.engine import alembic_config

POSTGRES_URL = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL", "")
STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")


@pytest.fixture
def old_engine(empty_engine: Engine) -> Engine:
    """An empty database of its own, migrated to 0022 (before lists)."""
    command.upgrade(alembic_config(empty_engine), "0022")
    return empty_engine


def _populate(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO list_profile (id, list_name) VALUES (1, 'The Harbour Letter')"))
        for status in STATUSES:
            conn.execute(text(
                "INSERT INTO subscriber (email, name, status, source, attributes, confirmations_sent, created_at, "
                "email_changes_sent) VALUES (:e, '', :s, 'test', '{}', 0, '2026-01-01 00:00:00', 0)"),
                {"e": f"{status}@example.org", "s": status})
        for number, week in ((1, "2026-W47"), (2, "2026-W48")):
            conn.execute(text(
                "INSERT INTO issue (number, week, subject, preheader, editor_note, status, created_at, tracking, "
                "article_mode) VALUES (:n, :w, 'S', '', '', 'sent', '2026-01-01 00:00:00', false, 'full')"),
                {"n": number, "w": week})
        conn.execute(text("INSERT INTO source (kind, location, title, interval_minutes, created_at) "
                          "VALUES ('feed', 'https://feeds.example.org/a.xml', '', 60, '2026-01-01 00:00:00')"))


def test_existing_data_becomes_the_first_list_and_goes_back_down(old_engine: Engine) -> None:
    _populate(old_engine)
    config = alembic_config(old_engine)
    command.upgrade(config, "0023")
    with old_engine.connect() as conn:
        assert conn.execute(text("SELECT id, name, slug, from_address FROM mailing_list")).all() == [
            (1, "The Harbour Letter", "the-harbour-letter", None)]
        standing = dict(conn.execute(text("SELECT email, status FROM subscriber")).all())
        assert standing == {f"{s}@example.org": s for s in STATUSES}  # every reader keeps their standing
        subscribed = dict(conn.execute(text(
            "SELECT s.email, x.status FROM subscription x JOIN subscriber s ON s.id = x.subscriber_id "
            "WHERE x.list_id = 1")).all())
        assert subscribed == {f"{s}@example.org": "unsubscribed" if s == "unsubscribed" else "active"
                              for s in STATUSES}
        assert conn.scalars(text("SELECT DISTINCT list_id FROM issue")).all() == [1]
        assert conn.scalars(text("SELECT DISTINCT list_id FROM source")).all() == [1]
        # A second list may compose the same week; the first list may not twice.
        conn.execute(text("INSERT INTO mailing_list (name, slug, created_at) VALUES ('B', 'b', '2026-01-01')"))
        conn.execute(text(
            "INSERT INTO issue (number, week, subject, preheader, editor_note, status, created_at, tracking, "
            "article_mode, list_id) VALUES (3, '2026-W48', 'S', '', '', 'draft', '2026-01-01', false, 'full', 2)"))
        conn.execute(text("DELETE FROM issue WHERE number = 3"))
        conn.execute(text("DELETE FROM mailing_list WHERE id = 2"))
        conn.commit()
    command.downgrade(config, "0022")
    with old_engine.connect() as conn:
        tables = set(conn.scalars(text(
            "SELECT name FROM sqlite_master WHERE type = 'table'" if conn.dialect.name == "sqlite" else
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")))
        assert "subscription" not in tables and "mailing_list" not in tables
        assert conn.scalar(text("SELECT count(*) FROM issue")) == 2
        assert dict(conn.execute(text("SELECT email, status FROM subscriber")).all()) == standing
    command.upgrade(config, "0023")  # and up again
