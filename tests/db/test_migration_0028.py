"""Migration 0028 on a populated database: the schedule and the handled weeks become list 1's, and back."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, text

from newsletter.db.engine import alembic_config
from tests.lists.test_migration import old_engine as old_engine  # noqa: F401 - the fixture (at 0022)

SCHEDULE = ("fri", "16:00", "sat", "07:00", "Europe/Berlin", "approve")


def _populate(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO cycle_schedule (id, compose_day, compose_time, send_day, send_time, time_zone, "
                          "mode, updated_at) VALUES (1, :a, :b, :c, :d, :e, :f, '2026-01-01 00:00:00')"),
                     dict(zip("abcdef", SCHEDULE, strict=True)))
        conn.execute(text(
            "INSERT INTO issue (number, week, subject, preheader, editor_note, status, created_at, tracking, "
            "article_mode) VALUES (1, '2026-W48', 'S', '', '', 'sent', '2026-01-01 00:00:00', false, 'full')"))
        issue_id = conn.scalar(text("SELECT id FROM issue"))
        for week, state, issue in (("2026-W47", "missed", None), ("2026-W48", "sent", issue_id)):
            conn.execute(text("INSERT INTO weekly_cycle (week, state, issue_id, waves_done, note, updated_at) "
                              "VALUES (:w, :s, :i, '[]', 'n', '2026-01-01 00:00:00')"), {"w": week, "s": state, "i": issue})


def _cycle(engine: Engine, list_column: bool) -> set[tuple[object, ...]]:
    columns = "list_id, week, state, issue_id" if list_column else "week, state, issue_id"
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM weekly_cycle"))}


def test_the_schedule_and_the_weeks_become_the_first_lists_and_go_back_down(old_engine: Engine) -> None:  # noqa: F811
    config = alembic_config(old_engine)
    command.upgrade(config, "0027")
    _populate(old_engine)
    command.upgrade(config, "0028")
    schedule_columns = "compose_day, compose_time, send_day, send_time, time_zone, mode"
    with old_engine.connect() as conn:
        assert conn.execute(text(f"SELECT list_id, {schedule_columns} FROM cycle_schedule")).all() == [(1, *SCHEDULE)]
        issue_id = conn.scalar(text("SELECT id FROM issue"))
    assert _cycle(old_engine, True) == {(1, "2026-W47", "missed", None), (1, "2026-W48", "sent", issue_id)}
    with old_engine.begin() as conn:
        # A second list has a schedule of its own and may handle the same week; list 1 not twice.
        conn.execute(text("INSERT INTO mailing_list (name, slug, created_at) VALUES ('B', 'b', '2026-01-01')"))
        conn.execute(text(f"INSERT INTO cycle_schedule (list_id, {schedule_columns}, updated_at) "
                          "VALUES (2, 'mon', '09:00', 'tue', '08:00', 'UTC', 'auto', '2026-01-01')"))
        conn.execute(text("INSERT INTO weekly_cycle (list_id, week, state, waves_done, note, updated_at) "
                          "VALUES (2, '2026-W48', 'empty', '[]', '', '2026-01-01')"))
    with old_engine.connect() as conn:
        try:
            conn.execute(text("INSERT INTO weekly_cycle (list_id, week, state, waves_done, note, updated_at) "
                              "VALUES (1, '2026-W48', 'empty', '[]', '', '2026-01-01')"))
        except Exception as exc:  # noqa: BLE001 - either engine's IntegrityError
            assert "unique" in str(exc).lower() or "duplicate" in str(exc).lower()
        else:
            raise AssertionError("list 1 handled 2026-W48 twice")
        conn.rollback()

    command.downgrade(config, "0027")  # list 2's rows cannot stay in the one-list tables
    with old_engine.connect() as conn:
        assert conn.execute(text(f"SELECT id, {schedule_columns} FROM cycle_schedule")).all() == [(1, *SCHEDULE)]
    assert _cycle(old_engine, False) == {("2026-W47", "missed", None), ("2026-W48", "sent", issue_id)}
    command.upgrade(config, "0028")  # and up again
    assert _cycle(old_engine, True) == {(1, "2026-W47", "missed", None), (1, "2026-W48", "sent", issue_id)}
