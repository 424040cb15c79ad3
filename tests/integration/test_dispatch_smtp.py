"""The whole send path through a real SMTP server on loopback, with injected faults."""

from __future__ import annotations

import email
import email.policy

import pytest
from sqlalchemy import select

from newsletter.mail.backends import BackendError
from newsletter.mail.backends.smtp import SMTPBackend
from newsletter.issues.compose import compose
from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from tests.factories import add_article, add_subscribers
from tests.smtp_server import Fault


@pytest.fixture
def smtp_services(settings, smtp_server):
    smtp_settings = settings.model_copy(
        update={"backend": "smtp", "smtp_host": smtp_server.host, "smtp_port": smtp_server.port,
                "smtp_timeout": 2.0, "batch_size": 4}
    )
    services = Services.build(smtp_settings)
    add_article(services.sessions, "A week in review")
    yield services
    services.close()


def states(services):
    with services.sessions() as session:
        rows = session.execute(select(Subscriber.email, Delivery.status, Subscriber.status).join(Delivery))
        return {mail: (delivery, reader) for mail, delivery, reader in rows}


def test_an_issue_reaches_every_reader_through_smtp_and_faults_land_in_the_right_state(smtp_services, smtp_server):
    assert isinstance(smtp_services.backend, SMTPBackend)
    add_subscribers(smtp_services.sessions, 10)
    smtp_server.faults["reader2@example.net"] = Fault(stage="rcpt", code=550, message="5.1.1 unknown user")
    smtp_server.faults["reader4@example.net"] = Fault(stage="rcpt", code=451, message="4.7.1 greylisted")
    smtp_server.faults["reader6@example.net"] = Fault(stage="data", code=554, message="5.7.1 rejected")
    smtp_server.faults["reader8@example.net"] = Fault(stage="data", code=552, message="4.2.2 mailbox full")
    issue = compose(smtp_services.sessions, smtp_services.settings).issue_id

    smtp_services.publisher.queue(issue)
    Worker(smtp_services.store, smtp_services.backend, smtp_services.settings, smtp_services.links).run(drain=True)

    got = states(smtp_services)
    assert got["reader2@example.net"] == (DeliveryStatus.BOUNCED, SubscriberStatus.BOUNCED)
    assert got["reader6@example.net"] == (DeliveryStatus.BOUNCED, SubscriberStatus.BOUNCED)
    assert got["reader4@example.net"][0] is DeliveryStatus.DEFERRED
    assert got["reader8@example.net"][0] is DeliveryStatus.DEFERRED  # 552 is temporary
    delivered = {m for m, (d, _) in got.items() if d is DeliveryStatus.SENT}
    assert delivered == {f"reader{i}@example.net" for i in (0, 1, 3, 5, 7, 9)}
    # Each delivered reader's message arrived exactly once, as valid MIME addressed to them.
    assert sorted(smtp_server.recipients) == sorted(delivered)
    for received in smtp_server.messages:
        parsed = email.message_from_bytes(received.data, policy=email.policy.default)
        assert parsed["To"].addresses[0].addr_spec == received.rcpt_tos[0]
        assert parsed.get_body(("html",)) is not None and parsed.get_body(("plain",)) is not None
    # The worker's connections stay open and are reused across batches.
    assert smtp_server.connections == smtp_services.backend.connections  # type: ignore[attr-defined]

    # Once the relay accepts again, the deferred readers get it; nobody gets it twice.
    smtp_server.faults.clear()
    with smtp_services.sessions.begin() as session:
        for row in session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.DEFERRED)):
            row.next_attempt_at = row.created_at
    Worker(smtp_services.store, smtp_services.backend, smtp_services.settings, smtp_services.links).run(drain=True)
    assert sorted(smtp_server.recipients) == sorted(delivered | {"reader4@example.net", "reader8@example.net"})


def test_an_unreachable_smtp_server_leaves_every_delivery_queued(smtp_services, smtp_server):
    add_subscribers(smtp_services.sessions, 3)
    issue = compose(smtp_services.sessions, smtp_services.settings).issue_id
    smtp_services.publisher.queue(issue)
    smtp_server.stop()

    with pytest.raises(BackendError, match=str(smtp_server.port)):
        Worker(smtp_services.store, smtp_services.backend, smtp_services.settings, smtp_services.links).run(drain=True)

    assert {d for d, _ in states(smtp_services).values()} == {DeliveryStatus.QUEUED}
