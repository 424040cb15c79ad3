"""Reading the trigger-kept delivery tally: a count is the sum over its slots (migration 0022)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.orm import Session

from newsletter.delivery.models import DeliveryStatus, DeliveryTally


def counts(db: Session | Connection, issue_id: int) -> dict[str, int]:
    """Deliveries of one issue per state (every state, zero where none): a few rows however large the send."""
    found = dict(db.execute(
        select(DeliveryTally.status, func.sum(DeliveryTally.n))
        .where(DeliveryTally.issue_id == issue_id).group_by(DeliveryTally.status)
    ).all())
    return {status.value: int(found.get(status.value) or 0) for status in DeliveryStatus}


def queued_of(issues: Select[Any]) -> Select[Any]:
    """How many deliveries of these issues are queued right now."""
    return select(func.coalesce(func.sum(DeliveryTally.n), 0)).where(
        DeliveryTally.status == DeliveryStatus.QUEUED.value, DeliveryTally.issue_id.in_(issues))
