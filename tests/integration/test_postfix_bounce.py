"""A bounce written by a real Postfix, received by `newsletter inbound`, acted on end to end.

A private Postfix (tests/postfix_mta.py) accepts a message for nobody-here@localhost.test,
its local(8) finds no such user and bounces it: the DSN goes to our envelope sender
bounces@example.org, which its transport map sends to the inbound server of the test.

The DSN it produced is kept in tests/data/bounces/postfix-local-unknown-user.eml, parsed by a
plain unit test below so the parser stays checked where Postfix cannot run. To regenerate it:
``NEWSLETTER_SAVE_POSTFIX_DSN=tests/data/bounces/postfix-local-unknown-user.eml
.venv/bin/python -m pytest -q tests/test_postfix_bounce.py -p no:cacheprovider``.
"""

from __future__ import annotations

import email
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.inbound.bounces import classify_message
from newsletter.issues.compose import compose
from newsletter.config import Settings
from newsletter.delivery.dispatch import Worker
from newsletter.db.base import utcnow
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.issues.models import Issue, IssueStatus
from newsletter.readers.models import Subscriber, SubscriberStatus, Suppression
from newsletter.services import Services
from newsletter.mail.message import make_message_id
from newsletter.mail.signed_addresses import BOUNCES, SignedAddresses
from tests.factories import subscribed, add_article
from tests.postfix_mta import UNKNOWN_LOCAL_USER, InboundMessage, PostfixMta, recording_inbound
from tests.postfix_mta import postfix_mta as postfix_mta  # noqa: F401  (the fixture)

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "data" / "bounces" / "postfix-local-unknown-user.eml"
SENDER = "bounces@example.org"  # the settings fixture's list domain (briefing@example.org)


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """SQLite only here (overrides conftest's two-database parametrisation): one run is enough."""
    path = tmp_path / "newsletter.db"
    shutil.copyfile(sqlite_template, path)
    yield f"sqlite:///{path}"


def _assert_postfix_dsn(raw: bytes) -> None:
    report = classify_message(raw)
    assert report.kind == "bounce"
    assert [(r.address, r.bounce_class, r.status, r.action, r.reason) for r in report.recipients] == [
        (UNKNOWN_LOCAL_USER, "hard", "5.1.1", "failed", "user unknown")
    ]


def test_the_captured_postfix_dsn_parses_without_postfix() -> None:
    raw = FIXTURE.read_bytes()
    msg = email.message_from_bytes(raw)
    assert str(msg["From"]).startswith("Mail Delivery System <MAILER-DAEMON@")
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    _assert_postfix_dsn(raw)


def _add_mailed_reader(services: Services, address: str) -> str:
    """An active reader we have sent issue 1 to; returns that delivery's Message-ID, as the worker
    signs it (a plain bounces@ report is believed only when the original it returns carries it).
    Rows made directly, as tests/factories.py does: normalise_email (email_validator) refuses the
    special-use .test domain the private Postfix delivers for."""
    with services.sessions.begin() as session:
        reader = Subscriber(email=address, name="Nobody", status=SubscriberStatus.ACTIVE, source="test")
        issue = Issue(number=1, subject="The Test Briefing", status=IssueStatus.SENT, sent_at=utcnow())
        session.add_all([reader, issue])
        session.flush()
        delivery = Delivery(issue_id=issue.id, subscriber_id=reader.id, status=DeliveryStatus.SENT, attempts=1,
                            last_code=250, sent_at=utcnow())
        session.add(delivery)
        session.flush()
        delivery.message_id = make_message_id(issue.id, reader.id, services.settings.mail_domain,
                                              secret_key=services.settings.secret_key, delivery_id=delivery.id)
        return delivery.message_id


def test_a_real_postfix_bounce_bounces_and_suppresses_the_reader(
    services: Services,
    postfix_mta: PostfixMta,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="newsletter.inbound.handler")
    message_id = _add_mailed_reader(services, UNKNOWN_LOCAL_USER)
    run = uuid.uuid4().hex  # tells this bounce from any earlier one Postfix may still hold
    original = (
        f"From: The Test Briefing <briefing@example.org>\r\nTo: {UNKNOWN_LOCAL_USER}\r\n"
        f"Subject: The Test Briefing {run}\r\nMessage-ID: {message_id}\r\n\r\nHello.\r\n"
    ).encode()

    with recording_inbound(services, postfix_mta) as inbound:
        postfix_mta.send(SENDER, [UNKNOWN_LOCAL_USER], original)

        def ours(received: InboundMessage) -> bool:
            return run.encode() in received.data

        got = inbound.wait_for(ours, timeout=30)

    # Postfix's bounce daemon, not us: null envelope sender, From MAILER-DAEMON, to bounces@.
    assert got.mail_from in ("", "<>")
    assert got.rcpt_tos == (SENDER,)
    dsn = email.message_from_bytes(got.data)
    assert str(dsn["From"]) == "Mail Delivery System <MAILER-DAEMON@mta.localhost.test>"
    assert "Reporting-MTA: dns; mta.localhost.test" in got.data.decode(errors="replace")
    _assert_postfix_dsn(got.data)
    # What the handler logged (its lines go to the log as "inbound: <line>").
    assert len(got.lines) == 1 and got.lines[0].startswith(f"bounce: {UNKNOWN_LOCAL_USER} hard 5.1.1")
    assert got.lines[0].endswith("bounced and suppressed")
    assert f"inbound: {got.lines[0]}" in caplog.messages

    with services.sessions() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email == UNKNOWN_LOCAL_USER))
        assert found is not None and found.status is SubscriberStatus.BOUNCED
        assert list(session.scalars(select(Suppression.reason))) == ["bounced"]
        assert services.suppression.suppressed(session, [UNKNOWN_LOCAL_USER]) == {UNKNOWN_LOCAL_USER}

    save_to = os.environ.get("NEWSLETTER_SAVE_POSTFIX_DSN")
    if save_to:
        Path(save_to).write_bytes(got.data)


def test_an_issue_sent_through_postfix_comes_back_to_its_verp_address_and_bounces_its_delivery(
    settings: Settings, postfix_mta: PostfixMta
) -> None:
    """The whole chain: our worker sends an issue through the real Postfix with a VERP envelope
    sender; Postfix bounces it; the DSN comes back to bounces+<token>@ and names the delivery."""
    relay = settings.model_copy(
        update={"backend": "smtp", "smtp_host": postfix_mta.host, "smtp_port": postfix_mta.port, "smtp_tls": "none"}
    )
    services = Services.build(relay)
    try:
        with services.sessions.begin() as session:
            reader = Subscriber(email=UNKNOWN_LOCAL_USER, name="Nobody", status=SubscriberStatus.ACTIVE, source="test")
            session.add(reader)
            subscribed(session, reader)
        now = utcnow()
        add_article(services.sessions, "A piece that will not arrive", now)
        issue = compose(services.sessions, services.settings, now=now).issue_id
        services.publisher.queue(issue)
        # Sent before any inbound server listens: the DSN waits in Postfix's queue, so nothing can
        # mark the delivery bounced before it is seen sent (a fast DSN used to win that race).
        Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
        with services.sessions() as session:
            delivery = session.scalar(select(Delivery))
            assert delivery is not None and delivery.status is DeliveryStatus.SENT  # Postfix took it
        with recording_inbound(services, postfix_mta) as inbound:  # flushes the queue: the DSN comes now
            got = inbound.wait_for(lambda m: any(r.startswith("bounces+") for r in m.rcpt_tos), timeout=30)
        verp = SignedAddresses(relay.secret_key, "example.org", BOUNCES)
        assert verp.read(got.rcpt_tos[0].rpartition("@")[0]) == delivery.id
        assert got.lines[0].endswith("bounced and suppressed"), got.lines
        with services.sessions() as session:
            after = session.get(Delivery, delivery.id)
            assert after is not None and after.status is DeliveryStatus.BOUNCED
            assert after.last_reply is not None and "5.1.1" in after.last_reply
            reader = session.scalar(select(Subscriber).where(Subscriber.email == UNKNOWN_LOCAL_USER))
            assert reader is not None and reader.status is SubscriberStatus.BOUNCED
    finally:
        services.close()
