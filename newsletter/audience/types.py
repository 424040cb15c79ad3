"""The audience domain's plain types, free of SQLAlchemy, so the CLI can offer them as choices
without importing the ORM (`newsletter --help` starts fast)."""

from __future__ import annotations

import enum


class FieldType(str, enum.Enum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOL = "bool"
