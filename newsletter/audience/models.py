"""The audience domain's tables: tags, custom field definitions and values, segments.

Field values are stored typed, one column per type, so a segment compares them in SQL (numbers as
numbers, dates as dates) and an index on (field, value) serves the comparison.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.audience.types import FieldType
from newsletter.db.base import Base, created, enum_type, intpk


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)  # normalised: lower case
    created_at: Mapped[created]


class SubscriberTag(Base):
    __tablename__ = "subscriber_tag"
    # The key serves "does this reader have these tags" (a segment's EXISTS per reader); the
    # index serves "who has this tag" (counts, the planner's semi-join from the tag side).
    __table_args__ = (Index("ix_subscriber_tag_tag", "tag_id", "subscriber_id"),)

    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True)


class FieldDefinition(Base):
    __tablename__ = "field_definition"

    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    label: Mapped[str] = mapped_column(String(100), nullable=False)
    type: Mapped[FieldType] = mapped_column(enum_type(FieldType, "field_type"), nullable=False)
    created_at: Mapped[created]


class SubscriberField(Base):
    """One reader's value of one field, in the column of the field's type (the others are NULL)."""

    __tablename__ = "subscriber_field"
    __table_args__ = (
        Index("ix_subscriber_field_text", "field_id", "text_value"),
        Index("ix_subscriber_field_number", "field_id", "number_value"),
        Index("ix_subscriber_field_date", "field_id", "date_value"),
    )

    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"), primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("field_definition.id", ondelete="CASCADE"), primary_key=True)
    text_value: Mapped[str | None] = mapped_column(String(500))
    number_value: Mapped[float | None] = mapped_column(Float)
    date_value: Mapped[date | None] = mapped_column(Date)
    bool_value: Mapped[bool | None] = mapped_column(Boolean)


class Segment(Base):
    """A saved filter on one list; ``filter`` is the JSON form of ``filters.SegmentFilter``."""

    __tablename__ = "segment"
    __table_args__ = (UniqueConstraint("list_id", "name"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # The list the segment filters: a send of another list's issue refuses it.
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"), nullable=False)
    filter: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[created]
