"""The schedule domain's tables."""

from __future__ import annotations

import enum

from sqlalchemy import (
    JSON,
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db.base import Base, created, enum_type, when


class ScheduleMode(str, enum.Enum):
    AUTO = "auto"
    APPROVE = "approve"
    LOCAL_TIME = "local-time"


class CycleSchedule(Base):
    """A list's weekly cycle as the editor set it (a row per list); the Settings give the
    defaults (the first list runs on them until set; another list runs once set)."""

    __tablename__ = "cycle_schedule"

    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"), primary_key=True)
    compose_day: Mapped[str] = mapped_column(String(3), nullable=False)
    compose_time: Mapped[str] = mapped_column(String(5), nullable=False)
    send_day: Mapped[str] = mapped_column(String(3), nullable=False)
    send_time: Mapped[str] = mapped_column(String(5), nullable=False)
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False)
    mode: Mapped[ScheduleMode] = mapped_column(enum_type(ScheduleMode, "schedule_mode"), nullable=False)
    updated_at: Mapped[created]


class CycleState(str, enum.Enum):
    COMPOSED = "composed"
    AWAITING_APPROVAL = "awaiting_approval"
    SENDING = "sending"  # queued (all at once, or wave by wave in local-time mode)
    SENT = "sent"
    EMPTY = "empty"  # no articles: nothing sent
    NOT_APPROVED = "not_approved"  # send time came without approval: nothing sent
    MISSED = "missed"  # the scheduler was down past the grace period


class WeeklyCycle(Base):
    """One row per (list, ISO week): the key that makes composing and sending a week exactly once."""

    __tablename__ = "weekly_cycle"

    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"), primary_key=True)
    week: Mapped[str] = mapped_column(String(10), primary_key=True)  # "2026-W48"
    state: Mapped[CycleState] = mapped_column(enum_type(CycleState, "cycle_state"), nullable=False)
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issue.id", ondelete="SET NULL"))
    composed_at: Mapped[when]
    send_at: Mapped[when]  # the send time this week (UTC)
    dispatched_at: Mapped[when]
    waves_done: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)  # local-time: zones queued
    note: Mapped[str] = mapped_column(Text, default="", nullable=False)
    updated_at: Mapped[created]
