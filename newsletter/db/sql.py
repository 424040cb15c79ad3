"""Small SQL pieces every domain uses the same way on both databases."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Table, any_, literal
from sqlalchemy.dialects.postgresql import ARRAY, Insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def one_of(column: ColumnElement[int], ids: Sequence[int], dialect: str) -> ColumnElement[bool]:
    """``column IN (...)``; on PostgreSQL ``= ANY(array)``: one parameter, not one per id (a
    thousand-id IN list costs microseconds of Python a row to bind and compile)."""
    if dialect == "postgresql":
        return column == any_(literal(list(ids), ARRAY(Integer())))
    return column.in_(list(ids))


def insert_for(session_or_dialect: Session | str) -> Callable[[Any], Insert]:
    """The INSERT that knows ``ON CONFLICT`` on this database (PostgreSQL's or SQLite's; both take
    ``on_conflict_do_nothing(index_elements=...)``, ``from_select`` and ``returning``)."""
    dialect = session_or_dialect if isinstance(session_or_dialect, str) else session_or_dialect.get_bind().dialect.name
    # Typed as PostgreSQL's: the callers use only what the two have in common.
    return postgresql_insert if dialect == "postgresql" else cast("Callable[[Any], Insert]", sqlite_insert)


def table_of(model: type[Any]) -> Table:
    """A mapped class's Table, for Core statements (typed: ``__table__`` is a FromClause)."""
    return cast("Table", model.__table__)
