"""The audience domain as the CLI, the admin and the API call it: one transaction per call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience import fields as field_values
from newsletter.audience import tags as tag_store
from newsletter.audience.fields import FieldInfo
from newsletter.audience.filters import SegmentFilter
from newsletter.audience.segments import (
    SegmentInfo,
    audience_count,
    resolve_list_id,
    create_segment,
    get_segment,
    list_segments,
    read_filter,
    remove_segment,
)
from newsletter.audience.values import Value, normalise_tag
from newsletter.readers.addresses import normalise_email
from newsletter.readers.history import SubscriberNotFound
from newsletter.readers.models import Subscriber


@dataclass(frozen=True)
class ReaderAudience:
    """A reader's tags and field values (key -> value as JSON gives it)."""

    subscriber_id: int
    email: str
    tags: list[str]
    fields: dict[str, object]

    def as_dict(self) -> dict[str, object]:
        return {"id": self.subscriber_id, "email": self.email, "tags": self.tags, "fields": self.fields}


@dataclass(frozen=True)
class ReaderChange:
    """Tags and fields checked before anything is written (``Audience.check_change``)."""

    tags: list[str] | None
    fields: dict[int, Value | None]


class Audience:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # -- fields
    def define_field(self, key: str, label: str, kind: str) -> FieldInfo:
        with self._sessions.begin() as session:
            return field_values.define_field(session, key, label, kind)

    def fields(self) -> list[FieldInfo]:
        with self._sessions() as session:
            return field_values.list_fields(session)

    # -- segments
    def create_segment(self, name: str, list_slug: str | None, filter_json: object) -> SegmentInfo:
        with self._sessions.begin() as session:
            return create_segment(session, name, list_slug, read_filter(session, filter_json))

    def segments(self) -> list[SegmentInfo]:
        with self._sessions() as session:
            return list_segments(session)

    def remove_segment(self, segment_id: int) -> None:
        with self._sessions.begin() as session:
            remove_segment(session, segment_id)

    def segment(self, segment_id: int) -> SegmentInfo:
        with self._sessions() as session:
            return get_segment(session, segment_id)

    def count(self, filter_json: object, list_slug: str | None = None) -> tuple[SegmentFilter, int]:
        """A filter not saved: the readers of the list (default the first) a send to it would queue now."""
        with self._sessions() as session:
            flt = read_filter(session, filter_json)
            return flt, audience_count(session, flt, resolve_list_id(session, list_slug))

    # -- a reader's tags and fields
    def _subscriber(self, session: Session, subscriber_id: int) -> Subscriber:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            raise SubscriberNotFound(f"there is no subscriber {subscriber_id}")
        return subscriber

    def _by_email(self, session: Session, email: str) -> Subscriber:
        address = normalise_email(email)
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
        if subscriber is None:
            raise SubscriberNotFound(f"there is no subscriber {address}")
        return subscriber

    def reader(self, subscriber_id: int) -> ReaderAudience:
        with self._sessions() as session:
            return self._reader(session, self._subscriber(session, subscriber_id))

    def readers(self, subscriber_ids: list[int]) -> tuple[dict[int, list[str]], dict[int, dict[str, object]]]:
        """Tags and fields of many readers at once (the API's lists)."""
        with self._sessions() as session:
            return tag_store.tags_of(session, subscriber_ids), field_values.fields_of(session, subscriber_ids)

    def _reader(self, session: Session, subscriber: Subscriber) -> ReaderAudience:
        return ReaderAudience(subscriber.id, subscriber.email, tag_store.tags_of(session, [subscriber.id])[subscriber.id],
                              field_values.fields_of(session, [subscriber.id])[subscriber.id])

    def check_change(self, tags: Iterable[str] | None, values: Mapping[str, object] | None, *,
                     text: bool) -> ReaderChange:
        """Tags and field values checked (raising InvalidInput) before anything is written."""
        with self._sessions() as session:
            definitions = {f.key: f for f in field_values.list_fields(session)}
            parsed = field_values.parse_fields(definitions, values or {}, text=text)
        return ReaderChange(None if tags is None else [normalise_tag(t) for t in tags], parsed)

    def change(self, subscriber_id: int, change: ReaderChange) -> ReaderAudience:
        """Set a reader's tags (exactly these, when given) and field values, in one transaction."""
        with self._sessions.begin() as session:
            subscriber = self._subscriber(session, subscriber_id)
            if change.tags is not None:
                tag_store.set_tags(session, subscriber.id, change.tags)
            if change.fields:
                definitions = {f.key: f for f in field_values.list_fields(session)}
                field_values.set_fields(session, subscriber.id, definitions, change.fields)
            return self._reader(session, subscriber)

    def tag(self, email: str, names: Iterable[str]) -> ReaderAudience:
        with self._sessions.begin() as session:
            subscriber = self._by_email(session, email)
            tag_store.tag(session, subscriber.id, names)
            return self._reader(session, subscriber)

    def untag(self, email: str, names: Iterable[str]) -> ReaderAudience:
        with self._sessions.begin() as session:
            subscriber = self._by_email(session, email)
            tag_store.untag(session, subscriber.id, names)
            return self._reader(session, subscriber)

    def tags(self) -> list[tuple[str, int]]:
        with self._sessions() as session:
            return tag_store.all_tags(session)
