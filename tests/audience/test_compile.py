"""The segment filter compiler, on SQLite and PostgreSQL: each kind of condition keeps the readers
just inside it and drops those just outside."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.compile import compile_filter
from newsletter.errors import InvalidInput
from newsletter.audience.fields import define_field, parse_fields, set_fields, list_fields
from newsletter.audience.filters import from_json
from newsletter.audience.segments import audience_count
from newsletter.audience.tags import tag
from newsletter.issues.models import Issue, IssueStatus, TrackingEvent
from newsletter.readers.models import Subscriber, SubscriberStatus

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

from tests.factories import subscribed


def reader(session: Session, name: str, *, status: SubscriberStatus = SubscriberStatus.ACTIVE,
           created_at: datetime = T0, zone: str | None = None, tags: tuple[str, ...] = (),
           **fields: str) -> int:
    subscriber = Subscriber(email=f"{name}@example.net", name=name, status=status, source="test",
                            created_at=created_at, time_zone=zone)
    session.add(subscriber)
    subscribed(session, subscriber)
    if tags:
        tag(session, subscriber.id, tags)
    if fields:
        definitions = {f.key: f for f in list_fields(session)}
        set_fields(session, subscriber.id, definitions, parse_fields(definitions, fields, text=True))
    return subscriber.id


def matching(session: Session, data: dict[str, object]) -> set[str]:
    flt = from_json(data, {f.key: f.type for f in list_fields(session)})
    return set(session.scalars(select(Subscriber.name).where(compile_filter(flt))))


@pytest.fixture
def fields(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        define_field(session, "age", "Age", "number")
        define_field(session, "renewal", "Renewal date", "date")
        define_field(session, "city", "City", "text")
        define_field(session, "paid", "Paid", "bool")
    return sessions


def test_tags_any_all_none(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        reader(session, "both", tags=("VIP", "Press"))
        reader(session, "vip", tags=("vip",))
        reader(session, "press", tags=("press",))
        reader(session, "other", tags=("other",))
        reader(session, "bare")
        assert matching(session, {"tags": [{"match": "any", "tags": ["vip", "press"]}]}) == {"both", "vip", "press"}
        assert matching(session, {"tags": [{"match": "all", "tags": ["vip", "press"]}]}) == {"both"}
        assert matching(session, {"tags": [{"match": "none", "tags": ["vip", "press"]}]}) == {"other", "bare"}
        # Tags are matched as stored: lower case, whatever case the filter was typed in.
        assert matching(session, {"tags": [{"match": "all", "tags": [" Vip "]}]}) == {"both", "vip"}
        # Conditions add up (AND), and a tag nobody has matches nobody.
        assert matching(session, {"tags": [{"match": "any", "tags": ["vip"]}, {"match": "none", "tags": ["press"]}]}) == {"vip"}
        assert matching(session, {"tags": [{"match": "any", "tags": ["nobody-has-this"]}]}) == set()


def test_number_comparisons_just_inside_and_outside(fields: sessionmaker[Session]) -> None:
    with fields.begin() as session:
        reader(session, "a29", age="29.99")
        reader(session, "a30", age="30")
        reader(session, "a31", age="30.01")
        reader(session, "none")
        assert matching(session, {"fields": [{"key": "age", "op": ">=", "value": "30"}]}) == {"a30", "a31"}
        assert matching(session, {"fields": [{"key": "age", "op": ">", "value": 30}]}) == {"a31"}
        assert matching(session, {"fields": [{"key": "age", "op": "<", "value": "30"}]}) == {"a29"}
        assert matching(session, {"fields": [{"key": "age", "op": "<=", "value": "30"}]}) == {"a29", "a30"}
        assert matching(session, {"fields": [{"key": "age", "op": "=", "value": "30.0"}]}) == {"a30"}
        # != keeps readers without a value too: everyone whose age is not 30.
        assert matching(session, {"fields": [{"key": "age", "op": "!=", "value": "30"}]}) == {"a29", "a31", "none"}
        assert matching(session, {"fields": [{"key": "age", "op": "set"}]}) == {"a29", "a30", "a31"}
        assert matching(session, {"fields": [{"key": "age", "op": "unset"}]}) == {"none"}


def test_date_text_and_bool_fields(fields: sessionmaker[Session]) -> None:
    with fields.begin() as session:
        reader(session, "early", renewal="2026-06-30", city="New York", paid="yes")
        reader(session, "on", renewal="2026-07-01", city="York", paid="no")
        reader(session, "late", renewal="2026-07-02", city="Yorkshire_x")
        assert matching(session, {"fields": [{"key": "renewal", "op": "<", "value": "2026-07-01"}]}) == {"early"}
        assert matching(session, {"fields": [{"key": "renewal", "op": ">=", "value": "2026-07-01"}]}) == {"on", "late"}
        assert matching(session, {"fields": [{"key": "city", "op": "=", "value": "York"}]}) == {"on"}
        # contains ignores case; % and _ in the value are plain characters, not wildcards.
        assert matching(session, {"fields": [{"key": "city", "op": "contains", "value": "YORK"}]}) == {"early", "on", "late"}
        assert matching(session, {"fields": [{"key": "city", "op": "contains", "value": "e_x"}]}) == {"late"}
        assert matching(session, {"fields": [{"key": "city", "op": "contains", "value": "%"}]}) == set()
        assert matching(session, {"fields": [{"key": "paid", "op": "=", "value": True}]}) == {"early"}
        assert matching(session, {"fields": [{"key": "paid", "op": "=", "value": "no"}]}) == {"on"}
        assert matching(session, {"fields": [{"key": "paid", "op": "unset"}]}) == {"late"}


def test_status_signed_up_and_zone(sessions: sessionmaker[Session]) -> None:
    moment = datetime(2026, 5, 1, tzinfo=timezone.utc)
    with sessions.begin() as session:
        reader(session, "before", created_at=datetime(2026, 4, 30, 23, 59, 59, tzinfo=timezone.utc), zone="Europe/Paris")
        reader(session, "at", created_at=moment, zone="America/New_York")
        reader(session, "pending", status=SubscriberStatus.PENDING, created_at=moment)
        reader(session, "gone", status=SubscriberStatus.UNSUBSCRIBED, created_at=moment)
        assert matching(session, {"signed_up_after": "2026-05-01"}) == {"at", "pending", "gone"}
        assert matching(session, {"signed_up_before": "2026-05-01T00:00:00+00:00"}) == {"before"}
        assert matching(session, {"signed_up_before": "2026-05-01T02:00:00+02:00"}) == {"before"}
        assert matching(session, {"statuses": ["pending", "unsubscribed"]}) == {"pending", "gone"}
        assert matching(session, {"zones": ["Europe/Paris"]}) == {"before"}
        # A count is what a send would queue: active readers only, whatever the filter says.
        assert audience_count(session, from_json({"signed_up_after": "2026-05-01"}, {}), 1) == 1


def test_engagement_counts_the_last_n_tracked_issues(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        old = reader(session, "old")
        recent = reader(session, "recent")
        clicker = reader(session, "clicker")
        reader(session, "never")
        issues = []
        for number, tracked in ((1, True), (2, True), (3, False), (4, True)):
            issue = Issue(number=number, subject=f"#{number}", status=IssueStatus.SENT, tracking=tracked)
            session.add(issue)
            session.flush()
            issues.append(issue.id)
        draft = Issue(number=5, subject="draft", status=IssueStatus.DRAFT, tracking=True)
        session.add(draft)
        session.flush()
        session.add_all([
            TrackingEvent(issue_id=issues[0], subscriber_id=old, kind="open"),
            TrackingEvent(issue_id=issues[3], subscriber_id=recent, kind="open"),
            TrackingEvent(issue_id=issues[1], subscriber_id=clicker, kind="click"),
        ])
        session.flush()
        # The last 2 tracked sent issues are #4 and #2 (#3 was not tracked, #5 not sent).
        assert matching(session, {"engagement": {"kind": "opened", "last_issues": 2}}) == {"recent"}
        assert matching(session, {"engagement": {"kind": "clicked", "last_issues": 2}}) == {"clicker"}
        assert matching(session, {"engagement": {"kind": "opened_or_clicked", "last_issues": 2}}) == {"recent", "clicker"}
        assert matching(session, {"engagement": {"kind": "opened", "last_issues": 3}}) == {"recent", "old"}


@pytest.mark.parametrize(("data", "message"), [
    ({"fields": [{"key": "nope", "op": "=", "value": "1"}]}, "unknown field: 'nope'"),
    ({"fields": [{"key": "age", "op": ">=", "value": "thirty"}]}, "age: 'thirty' is not a number"),
    ({"fields": [{"key": "city", "op": "<", "value": "a"}]}, "compares numbers and dates only"),
    ({"fields": [{"key": "age", "op": "contains", "value": "3"}]}, "compares text fields only"),
    ({"fields": [{"key": "renewal", "op": "=", "value": "1/7/2026"}]}, "is not a date"),
    ({"fields": [{"key": "age", "op": "~", "value": "3"}]}, "unknown comparison"),
    ({"tags": [{"match": "some", "tags": ["a"]}]}, "match must be any, all or none"),
    ({"tags": [{"match": "any", "tags": ["a,b"]}]}, "comma"),
    ({"statuses": ["gone"]}, "unknown status"),
    ({"zones": ["Mars/Base"]}, "unknown time zone"),
    ({"engagement": {"kind": "opened", "last_issues": 0}}, "last_issues"),
    ({"signed_up_after": "2026-05-01T00:00:00"}, "zone"),
    ({"colour": "red"}, "unknown filter condition"),
])
def test_bad_filters_are_refused_with_the_reason(fields: sessionmaker[Session], data: dict[str, object],
                                                 message: str) -> None:
    with fields() as session, pytest.raises(InvalidInput) as caught:
        from_json(data, {f.key: f.type for f in list_fields(session)})
    assert message in str(caught.value)


def test_a_field_value_is_stored_typed(fields: sessionmaker[Session]) -> None:
    from newsletter.audience.fields import fields_of

    with fields.begin() as session:
        who = reader(session, "typed", age="1,200.5", renewal="2026-07-01", city=" Leeds ", paid="Y")
        assert fields_of(session, [who])[who] == {"age": 1200.5, "city": "Leeds", "paid": True, "renewal": "2026-07-01"}
        assert date(2026, 7, 1).isoformat() == fields_of(session, [who])[who]["renewal"]
