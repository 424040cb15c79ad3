"""Segments: a saved filter on one list, its count, and its readers for a send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.audience.compile import compile_filter
from newsletter.audience.errors import DuplicateSegment, InvalidFilter, SegmentInUse, SegmentOfOtherList, UnknownSegment
from newsletter.audience.fields import field_types
from newsletter.audience.filters import SegmentFilter, from_json, to_json
from newsletter.audience.models import Segment
from newsletter.issues.models import Issue
from newsletter.delivery.enqueue import Audience, for_send
from newsletter.lists.catalog import find_list
from newsletter.lists.models import MailingList
from newsletter.readers.models import Subscriber

def resolve_list_id(session: Session, slug: str | None) -> int:
    """The id of the list named by ``slug``, the first list when None (``lists.errors.UnknownList``: ``unknown list: SLUG``)."""
    return find_list(session, slug).id


@dataclass(frozen=True)
class SegmentInfo:
    id: int
    name: str
    list_id: int
    list_slug: str
    filter: dict[str, Any]
    created_at: datetime
    count: int  # the readers a send to it would queue now

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "list": self.list_slug, "filter": self.filter,
                "created_at": self.created_at.isoformat(), "count": self.count}


def read_filter(session: Session, data: object) -> SegmentFilter:
    return from_json(data, field_types(session))


def audience_count(session: Session, flt: SegmentFilter, list_id: int) -> int:
    """How many readers of the list a send to this filter would queue now (the enqueue's own
    conditions)."""
    return session.scalar(select(func.count()).select_from(Subscriber)
                          .where(*for_send(list_id, compile_filter(flt)))) or 0


def create_segment(session: Session, name: str, list_slug_: str | None, flt: SegmentFilter) -> SegmentInfo:
    name = " ".join(name.split())
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidFilter("a segment needs a name of 1 to 100 printable characters")
    mailing_list = find_list(session, list_slug_)
    list_id, list_slug_ = mailing_list.id, mailing_list.slug
    if session.scalar(select(Segment.id).where(Segment.list_id == list_id, Segment.name == name)) is not None:
        raise DuplicateSegment(f"a segment named {name!r} exists already on list {list_slug_}")
    segment = Segment(name=name, list_id=list_id, filter=to_json(flt))
    session.add(segment)
    try:
        session.flush()
    except IntegrityError as exc:
        raise DuplicateSegment(f"a segment named {name!r} exists already on list {list_slug_}") from exc
    return _info(session, segment)


def _info(session: Session, segment: Segment) -> SegmentInfo:
    flt = read_filter(session, segment.filter)
    mailing_list = session.get(MailingList, segment.list_id)
    slug = mailing_list.slug if mailing_list is not None else str(segment.list_id)
    return SegmentInfo(segment.id, segment.name, segment.list_id, slug, to_json(flt), segment.created_at,
                       audience_count(session, flt, segment.list_id))


def get_segment(session: Session, segment_id: int) -> SegmentInfo:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise UnknownSegment(f"no segment {segment_id}")
    return _info(session, segment)


def list_segments(session: Session) -> list[SegmentInfo]:
    return [_info(session, s) for s in session.scalars(select(Segment).order_by(Segment.name, Segment.id))]


def segment_audience(session: Session, segment_id: int, list_id: int) -> Audience:
    """A segment's readers as the condition of a send of list ``list_id`` (``delivery.enqueue.Audience``).

    A segment of another list raises SegmentOfOtherList: its filter would pick that list's
    readers' equals among this list's readers, which nobody chose.

    Fields named by the filter are checked against today's definitions: one deleted or retyped
    since the segment was saved raises InvalidFilter rather than send to the wrong readers.
    """
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise UnknownSegment(f"no segment {segment_id}")
    if segment.list_id != list_id:
        raise SegmentOfOtherList(f"segment {segment_id} is on another list than the issue")
    return Audience(segment.id, compile_filter(read_filter(session, segment.filter)))


def issue_audience(session: Session, issue_id: int) -> ColumnElement[bool] | None:
    """The condition of the segment an issue was sent to (None: the whole list), for readers
    queued after the send started (an A/B test's winner)."""
    segment_id, list_id = session.execute(select(Issue.segment_id, Issue.list_id).where(Issue.id == issue_id)).one()
    return None if segment_id is None else segment_audience(session, segment_id, list_id).where


def remove_segment(session: Session, segment_id: int) -> None:
    """Delete a segment no issue was sent to (SegmentInUse names the issue that keeps it)."""
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise UnknownSegment(f"no segment {segment_id}")
    used_by = session.scalar(select(Issue.id).where(Issue.segment_id == segment_id).order_by(Issue.id).limit(1))
    if used_by is not None:
        raise SegmentInUse(f"segment {segment_id} was the audience of issue {used_by}, which keeps it")
    session.delete(segment)
