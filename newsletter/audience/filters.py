"""A segment's filter as typed values, and its JSON form (stored on the segment, sent to the API).

Everything is checked when read (``from_json``), so a stored filter always compiles; field
conditions carry their field's type, checked against the definitions when the segment is saved.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from newsletter.audience.errors import InvalidFilter
from newsletter.audience.types import FieldType
from newsletter.audience.values import Value, normalise_tag, parse_value, shown
from newsletter.readers.status import SubscriberStatus

MAX_CONDITIONS = 50
MAX_ISSUES = 100


class TagMatch(str, enum.Enum):
    ANY = "any"
    ALL = "all"
    NONE = "none"


class FieldOp(str, enum.Enum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    CONTAINS = "contains"
    SET = "set"
    UNSET = "unset"


ORDERED = {FieldOp.LT, FieldOp.LE, FieldOp.GT, FieldOp.GE}
NO_VALUE = {FieldOp.SET, FieldOp.UNSET}


class Engagement(str, enum.Enum):
    OPENED = "opened"
    CLICKED = "clicked"
    OPENED_OR_CLICKED = "opened_or_clicked"


@dataclass(frozen=True)
class TagCondition:
    match: TagMatch
    tags: tuple[str, ...]


@dataclass(frozen=True)
class FieldCondition:
    key: str
    type: FieldType
    op: FieldOp
    value: Value | None = None  # None for set / unset


@dataclass(frozen=True)
class EngagementCondition:
    kind: Engagement
    last_issues: int  # among the last N issues sent with tracking on


@dataclass(frozen=True)
class SegmentFilter:
    """Every condition must hold (AND); an empty filter is the whole list."""

    tags: tuple[TagCondition, ...] = ()
    fields: tuple[FieldCondition, ...] = ()
    statuses: tuple[SubscriberStatus, ...] = ()  # empty: any status (a send takes active readers only)
    signed_up_after: datetime | None = None  # created_at >= this
    signed_up_before: datetime | None = None  # created_at < this
    zones: tuple[str, ...] = ()  # the reader's own time zone is one of these
    engagement: EngagementCondition | None = None


def field_condition(key: str, kind: FieldType, op: str, raw: str | None) -> FieldCondition:
    """A field condition from text (the CLI's ``KEY OP VALUE``, a form), checked against the type."""
    try:
        operator = FieldOp(op.strip().lower())
    except ValueError:
        raise InvalidFilter(f"{key}: unknown comparison {op!r} (use = != < <= > >= contains set unset)") from None
    if operator in NO_VALUE:
        return FieldCondition(key, kind, operator)
    if operator is FieldOp.CONTAINS and kind is not FieldType.TEXT:
        raise InvalidFilter(f"{key}: 'contains' compares text fields only")
    if operator in ORDERED and kind in (FieldType.TEXT, FieldType.BOOL):
        raise InvalidFilter(f"{key}: {operator.value} compares numbers and dates only")
    if raw is None or not raw.strip():
        raise InvalidFilter(f"{key} {operator.value}: a value is needed")
    return FieldCondition(key, kind, operator, parse_value(kind, raw, key))


def _when(raw: object, name: str) -> datetime | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidFilter(f"{name}: expected a date (YYYY-MM-DD) or an ISO 8601 time")
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(), timezone.utc)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidFilter(f"{name}: {raw[:40]!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidFilter(f"{name}: give the time with its zone (e.g. +00:00)")
    return moment.astimezone(timezone.utc)


def _strings(raw: object, name: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw) or len(raw) > MAX_CONDITIONS:
        raise InvalidFilter(f"{name}: expected a list of at most {MAX_CONDITIONS} strings")
    return list(raw)


def zone(name: str) -> str:
    if name not in available_timezones():
        raise InvalidFilter(f"unknown time zone: {name[:60]!r}")
    ZoneInfo(name)
    return name


def from_json(data: object, field_types: dict[str, FieldType]) -> SegmentFilter:
    """A filter from its JSON form; ``field_types`` (key -> type) are the defined fields.

    Raises InvalidFilter naming what is wrong; an unknown key anywhere is refused too.
    """
    if not isinstance(data, dict):
        raise InvalidFilter("the filter must be an object")
    known = {"tags", "fields", "statuses", "signed_up_after", "signed_up_before", "zones", "engagement"}
    if unknown := sorted(set(data) - known):
        raise InvalidFilter(f"unknown filter condition: {unknown[0]!r}")
    tags: list[TagCondition] = []
    for item in _list(data.get("tags", []), "tags"):
        match, names = _pick(item, "tags", "match", "tags")
        try:
            how = TagMatch(match)
        except ValueError:
            raise InvalidFilter(f"tags: match must be any, all or none, not {match!r}") from None
        cleaned = tuple(dict.fromkeys(normalise_tag(n) for n in _strings(names, "tags")))
        if not cleaned:
            raise InvalidFilter("tags: name at least one tag")
        tags.append(TagCondition(how, cleaned))
    fields: list[FieldCondition] = []
    for item in _list(data.get("fields", []), "fields"):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not isinstance(item.get("op"), str):
            raise InvalidFilter('fields: each condition is {"key", "op", "value"}')
        key = item["key"]
        if key not in field_types:
            raise InvalidFilter(f"unknown field: {key[:40]!r}")
        value = item.get("value")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise InvalidFilter(f"{key}: the value must be text, a number or true/false")
        text = value if isinstance(value, str) or value is None else (
            ("yes" if value else "no") if isinstance(value, bool) else repr(value))
        fields.append(field_condition(key, field_types[key], item["op"], text))
    statuses: list[SubscriberStatus] = []
    for name in _strings(data.get("statuses", []), "statuses"):
        try:
            statuses.append(SubscriberStatus(name))
        except ValueError:
            raise InvalidFilter(f"unknown status: {name[:20]!r}") from None
    engagement = None
    if (raw := data.get("engagement")) is not None:
        kind, last = _pick(raw, "engagement", "kind", "last_issues")
        try:
            how_engaged = Engagement(kind)
        except ValueError:
            raise InvalidFilter("engagement: kind must be opened, clicked or opened_or_clicked") from None
        if not isinstance(last, int) or isinstance(last, bool) or not 1 <= last <= MAX_ISSUES:
            raise InvalidFilter(f"engagement: last_issues must be a whole number from 1 to {MAX_ISSUES}")
        engagement = EngagementCondition(how_engaged, last)
    after = _when(data.get("signed_up_after"), "signed_up_after")
    before = _when(data.get("signed_up_before"), "signed_up_before")
    return SegmentFilter(
        tags=tuple(tags), fields=tuple(fields), statuses=tuple(dict.fromkeys(statuses)),
        signed_up_after=after, signed_up_before=before,
        zones=tuple(dict.fromkeys(zone(z) for z in _strings(data.get("zones", []), "zones"))),
        engagement=engagement,
    )


def _list(raw: object, name: str) -> list[object]:
    if not isinstance(raw, list) or len(raw) > MAX_CONDITIONS:
        raise InvalidFilter(f"{name}: expected a list of at most {MAX_CONDITIONS} conditions")
    return raw


def _pick(item: object, name: str, *keys: str) -> tuple[Any, ...]:
    if not isinstance(item, dict) or any(k not in item for k in keys):
        raise InvalidFilter(f"{name}: each condition is {{{', '.join(repr(k) for k in keys)}}}")
    return tuple(item[k] for k in keys)


def to_json(flt: SegmentFilter) -> dict[str, Any]:
    """The stored and shown form; ``from_json(to_json(f))`` is ``f``."""
    data: dict[str, Any] = {}
    if flt.tags:
        data["tags"] = [{"match": t.match.value, "tags": list(t.tags)} for t in flt.tags]
    if flt.fields:
        data["fields"] = [{"key": f.key, "op": f.op.value, "value": shown(f.value)} for f in flt.fields]
    if flt.statuses:
        data["statuses"] = [s.value for s in flt.statuses]
    if flt.signed_up_after:
        data["signed_up_after"] = flt.signed_up_after.isoformat()
    if flt.signed_up_before:
        data["signed_up_before"] = flt.signed_up_before.isoformat()
    if flt.zones:
        data["zones"] = list(flt.zones)
    if flt.engagement:
        data["engagement"] = {"kind": flt.engagement.kind.value, "last_issues": flt.engagement.last_issues}
    return data


_SYMBOL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|<=|>=|=|<|>)\s*(.*?)\s*")
_WORD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s+(contains|set|unset)(?:\s+(.*?))?\s*", re.IGNORECASE)


def field_expression(text: str) -> dict[str, str | None]:
    """``KEY OP VALUE`` as typed on the command line ("age >= 30", "plan = pro", "city contains
    york", "phone set") in the JSON form of a field condition."""
    found = _SYMBOL.fullmatch(text) or _WORD.fullmatch(text)
    if found is None:
        raise InvalidFilter(f"cannot read {text[:60]!r}: write KEY OP VALUE, e.g. 'age >= 30' or 'phone set'")
    key, op, value = found.groups()
    return {"key": key, "op": op.lower(), "value": value or None}
