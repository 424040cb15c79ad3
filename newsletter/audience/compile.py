"""A segment's filter compiled into one SQL condition over ``subscriber`` (a pure function).

The condition goes into the WHERE of the send's one ``INSERT ... SELECT`` (delivery/enqueue.py)
and of the counts, so what is counted is what is queued. Tags and fields are correlated EXISTS
probes on their (subscriber, ...) primary keys; engagement is an EXISTS on ``tracking_event``.
"""

from __future__ import annotations

import operator
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, exists, func, not_, select, true

from newsletter.audience.filters import (
    Engagement,
    EngagementCondition,
    FieldCondition,
    FieldOp,
    SegmentFilter,
    TagCondition,
    TagMatch,
)
from newsletter.audience.models import FieldDefinition, SubscriberField, SubscriberTag, Tag
from newsletter.audience.types import FieldType
from newsletter.issues.models import Issue, IssueStatus, TrackingEvent
from newsletter.readers.models import Subscriber


def compile_filter(flt: SegmentFilter) -> ColumnElement[bool]:
    """The readers the filter keeps, as a condition on ``Subscriber`` (every part must hold)."""
    parts: list[ColumnElement[bool]] = [_tags(t) for t in flt.tags]
    parts += [_field(f) for f in flt.fields]
    if flt.statuses:
        parts.append(Subscriber.status.in_(list(flt.statuses)))
    if flt.signed_up_after is not None:
        parts.append(Subscriber.created_at >= flt.signed_up_after)
    if flt.signed_up_before is not None:
        parts.append(Subscriber.created_at < flt.signed_up_before)
    if flt.zones:
        parts.append(Subscriber.time_zone.in_(list(flt.zones)))
    if flt.engagement is not None:
        parts.append(_engaged(flt.engagement))
    return and_(true(), *parts)


def _has_tags(names: tuple[str, ...]) -> ColumnElement[bool]:
    tag_ids = select(Tag.id).where(Tag.name.in_(list(names)))
    return exists().where(SubscriberTag.subscriber_id == Subscriber.id, SubscriberTag.tag_id.in_(tag_ids))


def _tags(cond: TagCondition) -> ColumnElement[bool]:
    if cond.match is TagMatch.ANY:
        return _has_tags(cond.tags)
    if cond.match is TagMatch.NONE:
        return not_(_has_tags(cond.tags))
    # all: one probe per tag (each a primary-key lookup), rather than a count over a join.
    return and_(*(_has_tags((name,)) for name in cond.tags))


def _value_column(kind: FieldType) -> ColumnElement[Any]:
    columns: dict[FieldType, Any] = {
        FieldType.TEXT: SubscriberField.text_value,
        FieldType.NUMBER: SubscriberField.number_value,
        FieldType.DATE: SubscriberField.date_value,
        FieldType.BOOL: SubscriberField.bool_value,
    }
    return cast("ColumnElement[Any]", columns[kind])


def _field_value(cond: FieldCondition, *where: ColumnElement[bool]) -> ColumnElement[bool]:
    field_id = select(FieldDefinition.id).where(FieldDefinition.key == cond.key).scalar_subquery()
    return exists().where(SubscriberField.subscriber_id == Subscriber.id, SubscriberField.field_id == field_id,
                          _value_column(cond.type).is_not(None), *where)


def _field(cond: FieldCondition) -> ColumnElement[bool]:
    column = _value_column(cond.type)
    op, value = cond.op, cond.value
    if op is FieldOp.SET:
        return _field_value(cond)
    if op is FieldOp.UNSET:
        return not_(_field_value(cond))
    if op is FieldOp.NE:
        # "plan != pro" keeps readers without a plan too: everyone but those whose plan is pro.
        return not_(_field_value(cond, column == value))
    if op is FieldOp.CONTAINS:
        pattern = "%" + str(value).lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return _field_value(cond, func.lower(SubscriberField.text_value).like(pattern, escape="\\"))
    compare = {FieldOp.EQ: operator.eq, FieldOp.LT: operator.lt, FieldOp.LE: operator.le,
               FieldOp.GT: operator.gt, FieldOp.GE: operator.ge}[op]
    return _field_value(cond, compare(column, cast(Any, value)))


def _engaged(cond: EngagementCondition) -> ColumnElement[bool]:
    kinds = {Engagement.OPENED: ["open"], Engagement.CLICKED: ["click"],
             Engagement.OPENED_OR_CLICKED: ["open", "click"]}[cond.kind]
    # The last N issues whose send finished with tracking on: an issue sent without tracking
    # says nothing about who opened it, so it is not one of the N.
    recent = (select(Issue.id).where(Issue.status == IssueStatus.SENT, Issue.tracking.is_(True))
              .order_by(Issue.number.desc()).limit(cond.last_issues))
    return exists().where(TrackingEvent.subscriber_id == Subscriber.id, TrackingEvent.kind.in_(kinds),
                          TrackingEvent.issue_id.in_(recent))

