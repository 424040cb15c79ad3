"""A reader's status: its own module, free of SQLAlchemy, so the CLI can offer it as choices
without importing the ORM (`newsletter --help` starts fast). `readers.models` re-exports it."""

from __future__ import annotations

import enum


class SubscriberStatus(str, enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
