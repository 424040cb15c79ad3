"""The audience domain's errors, each under one kind of `newsletter.errors`."""

from __future__ import annotations

from newsletter.errors import Conflict, InvalidInput, NotFound


class UnknownSegment(NotFound):
    """No segment with that id."""


class SegmentOfOtherList(InvalidInput):
    """A send of one list to a segment of another."""

    field = "segment"


class UnknownField(InvalidInput):
    """A field key that no definition has (in a filter, an import or an edit)."""

    field = "fields"


class InvalidFieldValue(InvalidInput):
    """A value that is not of its field's type (a number, a date YYYY-MM-DD, yes/no)."""

    field = "fields"


class InvalidTag(InvalidInput):
    field = "tags"


class InvalidFilter(InvalidInput):
    """A segment's filter that cannot be read: the message names the condition."""

    field = "filter"


class InvalidDefinition(InvalidInput):
    """A field definition with a bad key, label or type."""

    field = "key"


class DuplicateField(Conflict):
    pass


class DuplicateSegment(Conflict):
    pass


class SegmentInUse(Conflict):
    """A segment an issue was sent to: the issue keeps it (its later waves take the same readers)."""
