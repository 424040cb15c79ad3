"""The declarative base and the column types every model shares."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    Integer,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: the same on SQLite (no zones) and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


# Shared column types (as warehouse does) so every table spells them the same way.
intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
created = Annotated[datetime, mapped_column(UTCDateTime, default=utcnow, nullable=False)]
when = Annotated[datetime | None, mapped_column(UTCDateTime, nullable=True)]
jsonlist = Annotated[list[str], mapped_column(JSON, default=list, nullable=False)]


class Base(DeclarativeBase):
    pass


def enum_type(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings (no native ENUM) so migrations stay simple on both engines.
    return Enum(cls, name=name, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
