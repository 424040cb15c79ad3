"""Two workers writing outcomes of one issue at once do not queue behind each other on the tally
(PostgreSQL: each database session adds to its own slot, migration 0022), and the counts stay exact."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.services import Services
from tests.factories import add_subscribers

pytestmark = pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                     indirect=True)


def test_two_writers_of_one_issue_do_not_wait_for_each_other_and_the_counts_stay_exact(
    services: Services, issue_id: int
) -> None:
    add_subscribers(services.sessions, 4)
    services.publisher.queue(issue_id)
    first, second = services.store.claim("w", 4, lease_seconds=60).claims[:2]
    engine = services.sessions.kw["bind"]
    record = text("UPDATE delivery SET status = 'sent', lease_owner = NULL WHERE id = :id")
    holder = engine.connect()
    others = []
    try:
        holder.begin()
        holder.execute(record, {"id": first.delivery_id})  # its tally rows stay locked until commit
        slot = holder.scalar(text("SELECT pg_backend_pid() % 64"))
        # Another session in another slot (two sessions share a slot one time in 64: skip those).
        other = engine.connect()
        others.append(other)
        while other.scalar(text("SELECT pg_backend_pid() % 64")) == slot:
            other = engine.connect()
            others.append(other)
        other.rollback()
        with other.begin():
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            other.execute(record, {"id": second.delivery_id})  # would wait on the holder's lock
        holder.commit()
    finally:
        holder.close()
        for other in others:
            other.close()
    counts = services.store.counts(issue_id)
    with services.sessions() as session:
        exact = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    assert counts["sent"] == exact[DeliveryStatus.SENT] == 2
    assert counts["sending"] == exact[DeliveryStatus.SENDING] == 2
