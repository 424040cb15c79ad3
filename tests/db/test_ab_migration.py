"""Migration 0027 (A/B subject tests) goes down and up again on SQLite and PostgreSQL, and the
delivery table keeps its tally triggers (a batch copy of the table on SQLite would drop them)."""

from __future__ import annotations

import os

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from newsletter.db.engine import alembic_config, migrate

POSTGRES_URL = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL", "")


@pytest.fixture
def fresh_engine(empty_engine: Engine) -> Engine:
    """An empty database of its own (this test moves the schema down and up)."""
    return empty_engine


def _queue_one(engine: Engine, issue_id: int) -> int:
    """A reader and a delivery of ``issue_id``: the queued count the tally triggers kept."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO subscriber (email, name, status, source, attributes, created_at, "
                          "confirmations_sent) VALUES (:e, '', 'active', 't', '{}', CURRENT_TIMESTAMP, 0)"),
                     {"e": f"r{issue_id}@example.net"})
        conn.execute(text("INSERT INTO issue (number, subject, preheader, editor_note, status, created_at, tracking, "
                          "article_mode) VALUES (:n, 's', '', '', 'draft', CURRENT_TIMESTAMP, false, 'full')"),
                     {"n": issue_id})
        conn.execute(text("INSERT INTO delivery (issue_id, subscriber_id, status, attempts, created_at) "
                          "SELECT i.id, s.id, 'queued', 0, CURRENT_TIMESTAMP FROM issue i, subscriber s "
                          "WHERE i.number = :n AND s.email = :e"), {"n": issue_id, "e": f"r{issue_id}@example.net"})
        return int(conn.scalar(text("SELECT coalesce(sum(t.n), 0) FROM delivery_tally t JOIN issue i "
                                    "ON i.id = t.issue_id WHERE i.number = :n AND t.status = 'queued'"),
                               {"n": issue_id}) or 0)


def test_0027_goes_down_and_up_and_keeps_the_tally_triggers(fresh_engine: Engine) -> None:
    migrate(fresh_engine)
    with fresh_engine.connect() as conn:
        found = inspect(conn)
        assert {"ab_test", "ab_variant"} <= set(found.get_table_names())
        assert "variant" in {c["name"] for c in found.get_columns("delivery")}
    assert _queue_one(fresh_engine, 1) == 1

    command.downgrade(alembic_config(fresh_engine), "0025")
    with fresh_engine.connect() as conn:
        found = inspect(conn)
        assert not {"ab_test", "ab_variant"} & set(found.get_table_names())
        assert "variant" not in {c["name"] for c in found.get_columns("delivery")}
    assert _queue_one(fresh_engine, 2) == 1

    migrate(fresh_engine)
    assert _queue_one(fresh_engine, 3) == 1
    with fresh_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM delivery WHERE variant IS NULL")) == 3
