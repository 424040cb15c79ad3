"""The A/B test tables: one test per issue, its subjects numbered 0-3 (0 is the issue's own)."""

from __future__ import annotations

import enum

from sqlalchemy import Float, ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db.base import Base, when


class AbState(str, enum.Enum):
    READY = "ready"  # set on a draft, not yet sent
    TESTING = "testing"  # the test share is queued; the rest waits for the decision
    DECIDED = "decided"  # the winner went (or goes) to the rest


class AbMetric(str, enum.Enum):
    OPENS = "opens"
    CLICKS = "clicks"


class AbTest(Base):
    """An issue's subject test. ``state`` moves ready -> testing -> decided, each step a
    compare-and-set, so two schedulers (or an editor and a scheduler) decide once."""

    __tablename__ = "ab_test"

    issue_id: Mapped[int] = mapped_column(ForeignKey("issue.id", ondelete="CASCADE"), primary_key=True)
    fraction: Mapped[float] = mapped_column(Float, nullable=False)  # of the list, shared by the variants
    metric: Mapped[str] = mapped_column(String(10), nullable=False)  # AbMetric
    wait_hours: Mapped[float] = mapped_column(Float, nullable=False)
    state: Mapped[str] = mapped_column(String(10), nullable=False)  # AbState (a string: no PG enum to migrate)
    winner: Mapped[int | None] = mapped_column(SmallInteger)
    started_at: Mapped[when]  # the test share was queued
    decided_at: Mapped[when]


class AbVariant(Base):
    """One subject of a test; ``delivery.variant`` names the one a reader got."""

    __tablename__ = "ab_variant"

    issue_id: Mapped[int] = mapped_column(ForeignKey("ab_test.issue_id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
