"""A reader's standing follows the same rules whether the news comes from the worker (a reply at
send time, from a real SMTP server) or from a report mailed back to the inbound handler."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.inbound.handler import InboundHandler
from newsletter.issues.compose import compose
from newsletter.readers.models import Subscriber, SubscriberEvent, SubscriberEventKind, SubscriberStatus
from newsletter.services import Services
from tests.factories import add_article, add_subscribers
from tests.inbound.test_inbound import _arf, _dsn
from tests.smtp_server import Fault, SMTPTestServer
from tests.workers import message_id_of

REFUSED, REPORTED, DEFERRED, SOFT, COMPLAINER, BYSTANDER = (
    "refused@example.net", "reported@example.net", "deferred@example.net", "soft@example.net",
    "complainer@example.net", "bystander@example.net",
)


@pytest.fixture
def smtp_services(settings, smtp_server: SMTPTestServer) -> Iterator[Services]:
    smtp_settings = settings.model_copy(
        update={"backend": "smtp", "smtp_host": smtp_server.host, "smtp_port": smtp_server.port,
                "smtp_timeout": 2.0, "batch_size": 10}
    )
    services = Services.build(smtp_settings)
    yield services
    services.close()


def standing(services: Services, address: str) -> tuple[SubscriberStatus, bool, list[SubscriberEventKind]]:
    """Status, whether the address is suppressed, and the reader's event kinds in order."""
    with services.sessions() as session:
        reader = session.scalar(select(Subscriber).where(Subscriber.email == address))
        assert reader is not None
        kinds = list(session.scalars(
            select(SubscriberEvent.kind).where(SubscriberEvent.subscriber_id == reader.id).order_by(SubscriberEvent.id)
        ))
        return reader.status, bool(services.suppression.suppressed(session, [address])), kinds


def test_bounces_and_complaints_change_a_reader_the_same_way_at_send_time_and_by_mail(smtp_services, smtp_server):
    services = smtp_services
    for address in (REFUSED, REPORTED, DEFERRED, SOFT, COMPLAINER, BYSTANDER):
        add_subscribers(services.sessions, 1, prefix=address.split("@")[0] + "-")
        with services.sessions.begin() as session:  # the factory numbers its addresses: name them
            session.execute(update(Subscriber).where(Subscriber.email == address.replace("@", "-0@"))
                            .values(email=address))
    smtp_server.faults[REFUSED] = Fault(stage="rcpt", code=550, message="5.1.1 no such user")
    smtp_server.faults[DEFERRED] = Fault(stage="rcpt", code=451, message="4.2.2 mailbox full, try later")
    add_article(services.sessions, "A piece")
    issue = compose(services.sessions, services.settings).issue_id
    services.publisher.queue(issue)
    worker = Worker(services.store, services.backend, services.settings, services.links)
    worker.run(drain=True)  # one batch: the refusal is recorded with the others, in one transaction
    for _ in range(3):  # deferred again and again at send time
        with services.sessions.begin() as session:
            session.execute(update(Delivery).where(Delivery.status == DeliveryStatus.DEFERRED)
                            .values(next_attempt_at=Delivery.created_at))
        worker.run(drain=True)

    # Reports mailed back later, each to the VERP address its delivery was sent from.
    verp = {m.rcpt_tos[0]: m.mail_from for m in smtp_server.messages}
    message_ids = {m.rcpt_tos[0]: message_id_of(m.data) for m in smtp_server.messages}
    assert set(verp) == {REPORTED, SOFT, COMPLAINER, BYSTANDER}
    inbound = InboundHandler(services)
    inbound.handle("", [verp[REPORTED]], _dsn(REPORTED, "5.1.1").encode())
    for _ in range(3):
        inbound.handle("", [verp[SOFT]], _dsn(SOFT, "4.2.2").encode())
    inbound.handle("", [verp[COMPLAINER]], _arf(COMPLAINER).encode())
    # The plain abuse@ address: believed because the report returns our original's signed Message-ID.
    inbound.handle("", ["abuse@example.org"], _arf(BYSTANDER, message_ids[BYSTANDER]).encode())

    # Hard: refused at send time and bounced by mail end the same: bounced, suppressed, one event.
    hard = (SubscriberStatus.BOUNCED, True, [SubscriberEventKind.BOUNCED])
    assert standing(services, REFUSED) == standing(services, REPORTED) == hard
    # Soft: deferrals at send time are retries, not bounces; three soft DSNs suspend (not suppress).
    assert standing(services, DEFERRED) == (SubscriberStatus.ACTIVE, False, [])
    assert standing(services, SOFT) == (SubscriberStatus.BOUNCED, False, [SubscriberEventKind.SOFT_BOUNCE] * 3
                                        + [SubscriberEventKind.SUSPENDED])
    # Complaints: complained and suppressed, whichever address the report came to.
    complaint = (SubscriberStatus.COMPLAINED, True, [SubscriberEventKind.COMPLAINED])
    assert standing(services, COMPLAINER) == standing(services, BYSTANDER) == complaint

    with services.sessions() as session:
        rows = {e: status for e, status in session.execute(select(Subscriber.email, Delivery.status).join(Delivery))}
    assert rows[REFUSED] is DeliveryStatus.BOUNCED and rows[REPORTED] is DeliveryStatus.BOUNCED
    assert rows[DEFERRED] is DeliveryStatus.DEFERRED and rows[SOFT] is DeliveryStatus.SENT


def test_a_reinstated_reader_starts_a_fresh_soft_bounce_count(services: Services) -> None:
    """Three soft bounces suspend a reader; once the owner puts them back, the bounces already
    judged do not suspend them again at the next one."""
    from newsletter.readers.standing import soft_bounced

    [reader_id] = add_subscribers(services.sessions, 1, prefix="flaky")
    with services.sessions.begin() as session:
        counts = [soft_bounced(session, reader_id, "452 mailbox full") for _ in range(3)]
    assert [c.suspended for c in counts] == [False, False, True]

    services.subscriptions.set_status(reader_id, SubscriberStatus.ACTIVE, by="the editor")
    with services.sessions.begin() as session:
        again = soft_bounced(session, reader_id, "452 mailbox full")
    assert (again.recent, again.suspended) == (1, False)
    with services.sessions() as session:
        assert session.get(Subscriber, reader_id).status is SubscriberStatus.ACTIVE
