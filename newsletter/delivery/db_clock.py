"""The database's clock in SQL: every time a claim, lease or outcome compares is the database's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, type_coerce

from newsletter.db.base import UTCDateTime


def db_now(dialect: str, plus_seconds: int = 0) -> ColumnElement[datetime]:
    """The database's clock (naive UTC, as UTCDateTime stores it), ``plus_seconds`` on, in SQL.

    PostgreSQL: ``now()``, the transaction's start, so one claim sees one time throughout.
    SQLite: ``'now'`` (fixed within a statement), spelled as SQLAlchemy stores DATETIME (six
    fractional digits) so that comparing the text compares the times.
    """
    if dialect == "postgresql":
        moment: ColumnElement[Any] = func.timezone("UTC", func.now())
        if plus_seconds:
            moment = moment + literal_column(f"interval '{int(plus_seconds)} seconds'")
    else:
        modifiers = [f"{int(plus_seconds):+d} seconds"] if plus_seconds else []
        moment = func.strftime("%Y-%m-%d %H:%M:%f000", "now", *modifiers)
    return type_coerce(moment, UTCDateTime())
