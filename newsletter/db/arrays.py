"""Sets of ids in a statement: one parameter on PostgreSQL, however many ids."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Integer, any_, literal
from sqlalchemy.dialects.postgresql import ARRAY


def one_of(column: ColumnElement[int], ids: Sequence[int], dialect: str) -> ColumnElement[bool]:
    """``column IN (...)``; on PostgreSQL ``= ANY(array)``: one parameter, not one per id (a
    thousand-id IN list costs microseconds of Python a row to bind and compile)."""
    if dialect == "postgresql":
        return column == any_(literal(list(ids), ARRAY(Integer())))
    return column.in_(list(ids))
