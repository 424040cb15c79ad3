"""Webhooks end to end: events queued where they happen, delivered signed to a real endpoint on
loopback, retried after a 500 on the back-off (an injected clock, no sleeping), logged, replayed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook

from newsletter.delivery.dispatch import Worker
from newsletter.mail.backends import SendResult, SendStatus
from newsletter.services import Services
from newsletter.webhooks.deliver import BACKOFF, MAX_ATTEMPTS, Answer, Due, deliver_due
from newsletter.webhooks.endpoints import InvalidWebhookUrl, create_endpoint, set_enabled
from newsletter.webhooks.messages import endpoint_log, replay
from newsletter.webhooks.models import WebhookMessage
from tests.factories import add_subscribers, this_weeks_issue
from tests.webhooks.receiver import receiver


WEEK_OF = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)  # the issues' week: the test's, never today's


def due_at(sessions: sessionmaker[Session]) -> datetime:
    """When the newest pending message is due, by the database's clock that wrote it."""
    with sessions() as session:
        moment = session.scalar(select(func.max(WebhookMessage.next_attempt_at)).where(WebhookMessage.status == "pending"))
    assert moment is not None
    return moment


def events_of(sessions: sessionmaker[Session]) -> list[tuple[int, str]]:
    with sessions() as session:
        return [(e, t) for e, t in session.execute(
            select(WebhookMessage.endpoint_id, WebhookMessage.event_type).order_by(WebhookMessage.id))]


def send_issue(services: Services, outcomes: dict[str, SendResult] | None = None, weeks_ago: int = 0) -> int:
    services.backend.outcomes.update(outcomes or {})  # type: ignore[attr-defined]
    issue = this_weeks_issue(services, f"A piece of {weeks_ago} weeks ago", WEEK_OF - timedelta(weeks=weeks_ago))
    services.publisher.queue(issue)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    return issue


def test_subscribed_and_bounced_arrive_signed_and_a_500_is_retried_after_the_back_off(services: Services) -> None:
    sessions = services.sessions
    with receiver(500) as endpoint:
        hook = create_endpoint(sessions, endpoint.url, "subscribed,bounced", allow_private=True)
        assert hook.secret.startswith("whsec_")

        # A sign-up through the real service, confirmed (not asked for), then a send refused 550.
        signed_up = services.subscriptions.subscribe("ann@example.net", "Ann")
        services.subscriptions.confirm(signed_up.subscriber_id, "ann@example.net")
        send_issue(services, {"ann@example.net": SendResult(SendStatus.BOUNCED, 550, "5.1.1 no such user")})
        assert events_of(sessions) == [(hook.id, "subscribed"), (hook.id, "bounced")]

        start = due_at(sessions)
        first = deliver_due(sessions, allow_private=True, now=start)
        assert (first.delivered, first.retrying) == (1, 1)  # the first POST got the 500
        assert deliver_due(sessions, allow_private=True, now=start + timedelta(seconds=BACKOFF[0] - 1)).attempted == 0
        again = deliver_due(sessions, allow_private=True, now=start + timedelta(seconds=BACKOFF[0]))
        assert (again.delivered, again.retrying) == (1, 0)
        assert [r.answered for r in endpoint.requests] == [500, 200, 200]

        verifier = Webhook(hook.secret)
        bodies = {}
        for request in endpoint.delivered():
            payload = verifier.verify(request.body, request.headers)  # raises unless the signature is right
            assert request.headers["webhook-id"].startswith("msg_")
            bodies[payload["type"]] = payload
        assert set(bodies) == {"subscribed", "bounced"}
        assert bodies["subscribed"]["data"]["email"] == "ann@example.net"
        assert bodies["bounced"]["data"]["subscriber_id"] == signed_up.subscriber_id
        assert "550" in bodies["bounced"]["data"]["detail"]
        assert endpoint.requests[0].body == endpoint.requests[1].body or endpoint.requests[0].body == endpoint.requests[2].body

        log, total = endpoint_log(sessions, hook.id)
        assert total == 2 and all(m.status == "delivered" for m in log)
        retried = next(m for m in log if m.attempts == 2)
        assert [a.code for a in retried.log] == [500, 200]
        assert retried.log[1].at - retried.log[0].at == timedelta(seconds=BACKOFF[0])

        # Replay: the same message, signed afresh, delivered again.
        replay(sessions, retried.id, hook.id, now=start + timedelta(minutes=1))
        assert deliver_due(sessions, allow_private=True, now=start + timedelta(minutes=1)).delivered == 1
        assert endpoint.requests[-1].headers["webhook-id"] == retried.id
        verifier.verify(endpoint.requests[-1].body, endpoint.requests[-1].headers)


def test_an_endpoint_gets_only_the_events_it_asked_for(services: Services) -> None:
    sessions = services.sessions
    leaving = create_endpoint(sessions, "https://hooks.example.com/a", "unsubscribed,complained", allow_private=False)
    joining = create_endpoint(sessions, "https://hooks.example.com/b", ["confirmed"], allow_private=False)
    signed_up = services.subscriptions.subscribe("bea@example.net")
    services.subscriptions.confirm(signed_up.subscriber_id, "bea@example.net")
    services.subscriptions.unsubscribe(signed_up.subscriber_id)
    assert events_of(sessions) == [(joining.id, "confirmed"), (leaving.id, "unsubscribed")]


def test_a_paused_endpoint_gets_no_events_and_its_waiting_messages_wait_until_resumed(services: Services) -> None:
    sessions = services.sessions
    endpoint = create_endpoint(sessions, "https://hooks.example.com/a", "subscribed,unsubscribed", allow_private=False)
    bea = services.subscriptions.add_subscriber("bea@example.net", confirmed=True, source="admin")
    assert events_of(sessions) == [(endpoint.id, "subscribed")]  # waiting to go out
    assert set_enabled(sessions, endpoint.id, False).enabled is False
    services.subscriptions.unsubscribe(bea.id)
    assert events_of(sessions) == [(endpoint.id, "subscribed")]  # nothing added while paused
    posted: list[str] = []

    def poster(due: Due, policy: object) -> Answer:
        posted.append(due.msg_id)
        return Answer(200, "", 5)

    assert deliver_due(sessions, allow_private=False, poster=poster).attempted == 0  # the waiting one waits
    set_enabled(sessions, endpoint.id, True)
    assert deliver_due(sessions, allow_private=False, poster=poster).delivered == 1
    assert len(posted) == 1


def test_sent_adds_one_message_per_delivery_when_wanted_and_none_when_not(services: Services) -> None:
    sessions = services.sessions
    add_subscribers(sessions, 3)
    send_issue(services, weeks_ago=1)
    assert events_of(sessions) == []  # nobody asked: the send path added nothing

    wants = create_endpoint(sessions, "https://hooks.example.com/sent", "sent,issue.sent", allow_private=False)
    create_endpoint(sessions, "https://hooks.example.com/other", "bounced", allow_private=False)
    issue = send_issue(services)
    with sessions() as session:
        rows = session.scalars(select(WebhookMessage).order_by(WebhookMessage.id)).all()
    assert [(r.endpoint_id, r.event_type) for r in rows] == [(wants.id, "sent")] * 3 + [(wants.id, "issue.sent")]
    payloads = [json.loads(r.payload) for r in rows]
    assert {p["data"]["email"] for p in payloads[:3]} == {f"reader{i}@example.net" for i in range(3)}
    assert all(p["type"] == "sent" and p["data"]["issue_id"] == issue and p["timestamp"].endswith("Z")
               for p in payloads[:3])
    assert payloads[3]["data"]["issue_id"] == issue
    assert len({r.msg_id for r in rows}) == 4 and all(r.msg_id.startswith("msg_") for r in rows)


def test_a_failing_endpoint_is_failed_after_the_last_back_off(services: Services) -> None:
    sessions = services.sessions
    create_endpoint(sessions, "https://hooks.example.com/down", "subscribed", allow_private=False)
    services.subscriptions.subscribe("cy@example.net")
    answers: list[Due] = []

    def down(due: Due, policy: object) -> Answer:
        answers.append(due)
        return Answer(503, "HTTP 503 Service Unavailable", 3)

    moment = due_at(sessions)
    for wait in (0, *BACKOFF):
        moment += timedelta(seconds=wait)
        assert deliver_due(sessions, allow_private=False, now=moment, poster=down).attempted == 1
    assert len(answers) == MAX_ATTEMPTS
    with sessions() as session:
        message = session.scalars(select(WebhookMessage)).one()
    assert (message.status.value, message.attempts, message.last_code) == ("failed", MAX_ATTEMPTS, 503)
    assert deliver_due(sessions, allow_private=False, now=moment + timedelta(days=1), poster=down).attempted == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/x", "http://localhost/x", "https://10.1.2.3/",
                                 "http://[::1]/", "http://169.254.169.254/latest"])
def test_a_private_url_is_refused_without_the_setting(services: Services, url: str) -> None:
    with pytest.raises(InvalidWebhookUrl, match="NEWSLETTER_WEBHOOKS_ALLOW_PRIVATE"):
        create_endpoint(services.sessions, url, "sent", allow_private=False)
    assert create_endpoint(services.sessions, url, "sent", allow_private=True).url == url


def test_the_address_is_checked_again_at_delivery(services: Services) -> None:
    sessions = services.sessions
    with receiver() as endpoint:
        # Added while private addresses were allowed; the setting is off by the time it is delivered
        # (or the name now resolves elsewhere): nothing is sent, the log says why.
        hook = create_endpoint(sessions, endpoint.url, "subscribed", allow_private=True)
        services.subscriptions.subscribe("di@example.net")
        report = deliver_due(sessions, allow_private=False, now=due_at(sessions))
        assert report.retrying == 1 and endpoint.requests == []
        log, _ = endpoint_log(sessions, hook.id)
        assert log[0].log[0].code is None and "NEWSLETTER_WEBHOOKS_ALLOW_PRIVATE" in log[0].last_error


@pytest.mark.parametrize("bad", ["ftp://example.com/x", "example.com", "https://user:pw@example.com/", "",
                                 "https://example.com/a b"])
def test_bad_urls_and_events_change_nothing(services: Services, bad: str) -> None:
    from newsletter.webhooks.endpoints import InvalidWebhookEvents, list_endpoints

    with pytest.raises(InvalidWebhookUrl):
        create_endpoint(services.sessions, bad, "sent", allow_private=True)
    with pytest.raises(InvalidWebhookEvents, match="the events are subscribed, confirmed"):
        create_endpoint(services.sessions, "https://example.com/", "sent,shipped", allow_private=True)
    assert list_endpoints(services.sessions) == []
