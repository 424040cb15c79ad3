"""Reports that changed nothing because nothing proved they were about our mail.

A bounce or complaint is believed only when it carries one of our signed tokens
(``inbound.reports``); anyone can write the rest, naming any address. Those are kept here, so the
owner can see them (`newsletter bounces unverified`) and decide for themselves: what kind of
report it was, where it came to, the addresses it named and why it was not believed. Verified
provider webhook events that changed nothing are kept here too (`inbound.providers.apply`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db.base import utcnow
from newsletter.inbound.models import REASON_MAX, UnverifiedReport

MAX_ADDRESSES = 20  # per report: a report naming thousands is kept as its first ones
KEEP = 10_000  # rows: a flood of forged reports cannot fill the disk; the oldest go first
ADDRESS_MAX = 320


@dataclass(frozen=True)
class UnverifiedEntry:
    id: int
    received_at: datetime
    kind: str
    sent_to: str
    addresses: list[str]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "received_at": self.received_at.isoformat(), "kind": self.kind,
                "sent_to": self.sent_to, "addresses": self.addresses, "reason": self.reason}


def record_unverified(session: Session, kind: str, sent_to: str, addresses: Sequence[str], reason: str) -> None:
    """Add one report to the caller's transaction, and forget the oldest beyond KEEP."""
    row = UnverifiedReport(
        kind=kind[:20], sent_to=sent_to[:ADDRESS_MAX], reason=reason[:REASON_MAX], received_at=utcnow(),
        addresses=[a[:ADDRESS_MAX] for a in addresses[:MAX_ADDRESSES]],
    )
    session.add(row)
    session.flush()
    if row.id > KEEP:  # ids only grow: one range delete on the primary key
        session.execute(delete(UnverifiedReport).where(UnverifiedReport.id <= row.id - KEEP))


def unverified_reports(sessions: sessionmaker[Session], limit: int = 50) -> list[UnverifiedEntry]:
    """The newest ``limit`` unverified reports, newest first."""
    with sessions() as session:
        rows = session.scalars(
            select(UnverifiedReport).order_by(UnverifiedReport.id.desc()).limit(max(1, limit))
        )
        return [UnverifiedEntry(r.id, r.received_at, r.kind, r.sent_to, list(r.addresses), r.reason) for r in rows]
