"""Custom fields: their definitions (per installation) and each reader's typed values."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.audience.errors import DuplicateField, InvalidDefinition, UnknownField
from newsletter.audience.models import FieldDefinition, SubscriberField
from newsletter.audience.types import FieldType
from newsletter.audience.values import Value, parse_value, shown, typed
from newsletter.readers.csv_formats import EMAIL_COLUMNS, FIRST_NAME, LAST_NAME, NAME_COLUMNS

KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Columns the import already reads: a field with one of these keys could never be imported.
RESERVED = {"tags", "status", "id", *EMAIL_COLUMNS, *NAME_COLUMNS, *FIRST_NAME, *LAST_NAME}


@dataclass(frozen=True)
class FieldInfo:
    id: int
    key: str
    label: str
    type: FieldType

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "key": self.key, "label": self.label, "type": self.type.value}


def _info(d: FieldDefinition) -> FieldInfo:
    return FieldInfo(d.id, d.key, d.label, d.type)


def define_field(session: Session, key: str, label: str, kind: str) -> FieldInfo:
    """A new field; its key names it in imports (a column header), filters and the API."""
    key = key.strip()
    if not KEY.fullmatch(key):
        raise InvalidDefinition(f"a field key is a lower-case letter then letters, digits or _ (at most 40): {key[:40]!r}")
    if key in RESERVED:
        raise InvalidDefinition(f"{key!r} is a column the import already reads; choose another key")
    label = " ".join(label.split())
    if not label or len(label) > 100 or not label.isprintable():
        raise InvalidDefinition("a field needs a label of 1 to 100 printable characters")
    try:
        field_type = FieldType(kind)
    except ValueError:
        raise InvalidDefinition(f"a field's type is text, number, date or bool, not {kind[:20]!r}") from None
    if session.scalar(select(FieldDefinition.id).where(FieldDefinition.key == key)) is not None:
        raise DuplicateField(f"a field {key!r} exists already")
    definition = FieldDefinition(key=key, label=label, type=field_type)
    session.add(definition)
    try:
        session.flush()
    except IntegrityError as exc:  # defined at the same moment elsewhere
        raise DuplicateField(f"a field {key!r} exists already") from exc
    return _info(definition)


def list_fields(session: Session) -> list[FieldInfo]:
    return [_info(d) for d in session.scalars(select(FieldDefinition).order_by(FieldDefinition.key))]


def field_types(session: Session) -> dict[str, FieldType]:
    return {f.key: f.type for f in list_fields(session)}


def _column_values(kind: FieldType, value: Value) -> dict[str, object]:
    column = {FieldType.TEXT: "text_value", FieldType.NUMBER: "number_value", FieldType.DATE: "date_value",
              FieldType.BOOL: "bool_value"}[kind]
    return {column: value}


def parse_fields(definitions: Mapping[str, FieldInfo], raw: Mapping[str, object], *, text: bool) -> dict[int, Value | None]:
    """field id -> typed value (None: clear it) for ``raw`` key -> value; checks everything first.

    ``text``: the values are typed text (CSV cells, form fields), where "" clears the field;
    otherwise JSON values, where null clears it.
    """
    out: dict[int, Value | None] = {}
    for key, value in raw.items():
        definition = definitions.get(key)
        if definition is None:
            raise UnknownField(f"unknown field: {key[:40]!r}")
        if value is None or (isinstance(value, str) and not value.strip()):
            out[definition.id] = None
        elif text:
            out[definition.id] = parse_value(definition.type, str(value), key)
        else:
            out[definition.id] = typed(definition.type, value, key)
    return out


def set_fields(session: Session, subscriber_id: int, definitions: Mapping[str, FieldInfo],
               values: Mapping[int, Value | None]) -> None:
    """Store a reader's parsed values (``parse_fields``): each replaces the old one, None clears it."""
    kinds = {d.id: d.type for d in definitions.values()}
    for field_id, value in values.items():
        session.execute(delete(SubscriberField).where(SubscriberField.subscriber_id == subscriber_id,
                                                      SubscriberField.field_id == field_id))
        if value is not None:
            session.add(SubscriberField(subscriber_id=subscriber_id, field_id=field_id,
                                        **_column_values(kinds[field_id], value)))
    session.flush()


def add_field_rows(session: Session, rows: Sequence[tuple[int, int, FieldType, Value]]) -> None:
    """Many (subscriber, field, type, value) rows at once (the import), as one executemany."""
    if rows:
        session.execute(insert(SubscriberField), [
            {"subscriber_id": s, "field_id": f, "text_value": None, "number_value": None, "date_value": None,
             "bool_value": None, **_column_values(kind, value)} for s, f, kind, value in rows
        ])


def fields_of(session: Session, subscriber_ids: Sequence[int]) -> dict[int, dict[str, object]]:
    """subscriber id -> {key: value as JSON gives it} for those readers (fields they have)."""
    out: dict[int, dict[str, object]] = {i: {} for i in subscriber_ids}
    if not subscriber_ids:
        return out
    rows = session.execute(
        select(SubscriberField, FieldDefinition.key, FieldDefinition.type)
        .join(FieldDefinition, FieldDefinition.id == SubscriberField.field_id)
        .where(SubscriberField.subscriber_id.in_(list(subscriber_ids)))
        .order_by(FieldDefinition.key)
    )
    for value, key, kind in rows:
        stored = {FieldType.TEXT: value.text_value, FieldType.NUMBER: value.number_value,
                  FieldType.DATE: value.date_value, FieldType.BOOL: value.bool_value}[kind]
        out[value.subscriber_id][key] = shown(stored)
    return out
