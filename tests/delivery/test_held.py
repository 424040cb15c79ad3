"""The connection a worker holds for its outcome writes: reused while busy, re-checked after idle."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from newsletter.delivery.held import IDLE_CHECK_SECONDS, HeldConnection
from newsletter.services import Services


def test_busy_writes_share_one_checkout_and_an_idle_one_is_checked_again(services: Services) -> None:
    checkouts: list[Any] = []
    event.listen(services.engine, "checkout", lambda dbapi, record, proxy: checkouts.append(dbapi))
    now = [100.0]
    held = HeldConnection(services.engine, clock=lambda: now[0])
    for _ in range(5):
        with held.transaction() as conn:
            conn.execute(text("SELECT 1"))
        now[0] += 0.07  # a window of 50 at ~700 msg/s
    assert len(checkouts) == 1
    now[0] += IDLE_CHECK_SECONDS + 1
    with held.transaction() as conn:
        conn.execute(text("SELECT 1"))
    assert len(checkouts) == 2  # handed back, checked out again (and pinged by the pool)
    held.close()


def test_a_failed_write_rolls_back_and_the_next_starts_afresh(services: Services) -> None:
    held = HeldConnection(services.engine)
    with held.transaction() as conn:
        conn.execute(text("CREATE TABLE held_probe (n INTEGER)"))
    with pytest.raises(ZeroDivisionError), held.transaction() as conn:
        conn.execute(text("INSERT INTO held_probe VALUES (1)"))
        raise ZeroDivisionError
    with held.transaction() as conn:
        assert conn.execute(text("SELECT count(*) FROM held_probe")).scalar() == 0
        conn.execute(text("DROP TABLE held_probe"))
    held.close()
