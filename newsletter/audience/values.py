"""Tag names and field values as people type them (CSV cells, forms, JSON), checked and typed.

No SQL here: the same checks serve the import, the admin, the API and segment filters.
"""

from __future__ import annotations

import math
import re
from datetime import date

from newsletter.audience.errors import InvalidFieldValue, InvalidTag
from newsletter.audience.types import FieldType

MAX_TAG = 50
MAX_TEXT = 500
TAG_SEPARATORS = re.compile(r"[,;]")
YES = {"true", "yes", "y", "1", "on"}
NO = {"false", "no", "n", "0", "off"}

Value = str | float | date | bool


def normalise_tag(raw: str) -> str:
    """A tag as stored: trimmed, inner spaces collapsed, lower case; commas and semicolons are
    the import's separators, so never part of a tag."""
    name = " ".join(raw.split()).lower()
    if not name:
        raise InvalidTag("a tag cannot be empty")
    if TAG_SEPARATORS.search(name):
        raise InvalidTag(f"a tag cannot hold a comma or a semicolon: {raw!r}")
    if len(name) > MAX_TAG:
        raise InvalidTag(f"a tag is at most {MAX_TAG} characters: {name[:20]!r}...")
    if not name.isprintable():
        raise InvalidTag(f"a tag cannot hold control characters: {name!r}")
    return name


def split_tags(cell: str) -> list[str]:
    """A ``tags`` cell ("a, b; c", or Mailchimp's "a","b") as normalised tags, each once, in order; blanks are skipped."""
    seen: dict[str, None] = {}
    for part in TAG_SEPARATORS.split(cell):
        part = part.strip().strip('"')  # Mailchimp writes its TAGS cell as "a","b"
        if part.strip():
            seen[normalise_tag(part)] = None
    return list(seen)


def parse_value(kind: FieldType, raw: str, key: str) -> Value:
    """The typed value of a field from its text; raises InvalidFieldValue naming the field."""
    text = raw.strip()
    if kind is FieldType.TEXT:
        if len(text) > MAX_TEXT:
            raise InvalidFieldValue(f"{key}: at most {MAX_TEXT} characters")
        if not text.isprintable():
            raise InvalidFieldValue(f"{key}: control characters are not allowed")
        return text
    if kind is FieldType.NUMBER:
        try:
            number = float(text.replace(",", "")) if re.fullmatch(r"[+-]?[\d,]*\.?\d+(?:[eE][+-]?\d+)?", text) else None
        except ValueError:
            number = None
        if number is None or not math.isfinite(number):
            raise InvalidFieldValue(f"{key}: {text[:40]!r} is not a number")
        return number
    if kind is FieldType.DATE:
        try:
            return date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else _bad_date(key, text)
        except ValueError:
            return _bad_date(key, text)
    lowered = text.lower()
    if lowered in YES:
        return True
    if lowered in NO:
        return False
    raise InvalidFieldValue(f"{key}: {text[:40]!r} is not yes or no")


def _bad_date(key: str, text: str) -> date:
    raise InvalidFieldValue(f"{key}: {text[:40]!r} is not a date (YYYY-MM-DD)")


def typed(kind: FieldType, value: object, key: str) -> Value:
    """A value from JSON (the API): numbers and booleans as such, anything else through its text."""
    if kind is FieldType.NUMBER and isinstance(value, (int, float)) and not isinstance(value, bool):
        return parse_value(kind, repr(float(value)), key)
    if kind is FieldType.BOOL and isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise InvalidFieldValue(f"{key}: expected a {kind.value} value")
    return parse_value(kind, value, key)


def shown(value: Value | None) -> str | float | bool | None:
    """A value as JSON gives it back: dates as YYYY-MM-DD, the rest as they are."""
    if isinstance(value, date):
        return value.isoformat()
    return value
