"""Migration 0029 on a populated database: every list gets an empty design (the first list's), and back."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import Engine, inspect, text

from newsletter.db.engine import alembic_config
from tests.lists.test_migration import old_engine as old_engine  # noqa: F401 - the fixture (at 0022)


def test_lists_keep_their_rows_with_no_design_of_their_own_and_go_back_down(old_engine: Engine) -> None:  # noqa: F811
    config = alembic_config(old_engine)
    command.upgrade(config, "0028")
    with old_engine.begin() as conn:
        conn.execute(text("INSERT INTO mailing_list (name, slug, from_address, created_at) "
                          "VALUES ('Tech Notes', 'tech-notes', 'tech@example.org', '2026-01-01')"))
    command.upgrade(config, "0029")
    with old_engine.connect() as conn:
        rows = conn.execute(text("SELECT slug, from_address, design FROM mailing_list ORDER BY id")).all()
    assert [(slug, design) for slug, _, design in rows][1:] == [("tech-notes", None)] and rows[1][1] == "tech@example.org"
    with old_engine.begin() as conn:
        conn.execute(text("UPDATE mailing_list SET design = :d WHERE slug = 'tech-notes'"),
                     {"d": json.dumps({"accent_color": "#116611"})})

    command.downgrade(config, "0028")  # its own design is dropped: it follows the first list's again
    assert "design" not in {c["name"] for c in inspect(old_engine).get_columns("mailing_list")}
    with old_engine.connect() as conn:
        assert conn.execute(text("SELECT slug, from_address FROM mailing_list WHERE slug = 'tech-notes'")).one() == (
            "tech-notes", "tech@example.org")
    command.upgrade(config, "0029")  # and up again
    assert "design" in {c["name"] for c in inspect(old_engine).get_columns("mailing_list")}
