"""The migration heads the start-up fast path trusts are alembic's own, and it upgrades what is behind."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from newsletter.db.engine import HEADS, alembic_config, applied, make_engine, migrate


def test_heads_constant_matches_alembic() -> None:
    config = alembic_config(make_engine("sqlite://"))
    assert HEADS == frozenset(ScriptDirectory.from_config(config).get_heads()), (
        "a migration was added: set newsletter.db.engine.HEADS to its revision")


def test_an_empty_or_older_database_is_upgraded_and_a_current_one_left_alone(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    migrate(engine)  # empty: every migration runs
    with engine.connect() as conn:
        assert applied(conn) == HEADS and inspect(conn).has_table("delivery")
    command.downgrade(alembic_config(engine), "-1")
    with engine.connect() as conn:
        assert applied(conn) != HEADS
    migrate(engine)  # one behind: upgraded again
    with engine.connect() as conn:
        assert applied(conn) == HEADS
    engine.dispose()
