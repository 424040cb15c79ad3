"""What an import adds beyond the address and name: each new reader's tags and typed custom field
values, read from the row (a bad cell rejects the row) and written with the chunk's new readers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from newsletter.audience.fields import FieldInfo, add_field_rows
from newsletter.audience.tags import add_tags
from newsletter.audience.types import FieldType
from newsletter.audience.values import Value, parse_value, split_tags


@dataclass
class ImportExtras:
    """One chunk's tags and field values by address; ``fields``: the defined fields by key."""

    fields: Mapping[str, FieldInfo]
    by_email: dict[str, tuple[list[str], list[tuple[int, FieldType, Value]]]] = field(default_factory=dict)

    def read(self, email: str, tags: str, cells: Sequence[tuple[str, str]]) -> None:
        """Keep the row's tags and field values (InvalidInput names a bad cell; nothing is kept)."""
        if not tags and not cells:
            return
        parsed = split_tags(tags) if tags else []
        values = [(self.fields[key].id, self.fields[key].type, parse_value(self.fields[key].type, cell, key))
                  for key, cell in cells]
        self.by_email[email] = (parsed, values)

    def write(self, session: Session, ids: Mapping[str, int]) -> None:
        """The tags and values of the new readers named in ``ids`` (address -> id)."""
        wanted = [e for e in ids if e in self.by_email]
        add_tags(session, [(ids[e], t) for e in wanted for t in self.by_email[e][0]])
        add_field_rows(session, [(ids[e], f, kind, value) for e in wanted for f, kind, value in self.by_email[e][1]])

    def wanted(self, emails: Sequence[str]) -> list[str]:
        return [e for e in emails if e in self.by_email]
