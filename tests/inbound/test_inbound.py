"""The inbound SMTP server: commands by email, bounces and complaints, through a real aiosmtpd."""

from __future__ import annotations

import email
import smtplib
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from newsletter.readers.history import subscriber_history
from newsletter.inbound.handler import InboundHandler
from newsletter.inbound.smtp_server import make_controller
from newsletter.readers.models import Subscriber, SubscriberEventKind, SubscriberStatus, Suppression
from newsletter.services import Services
from tests.factories import mail_an_issue

READER = "reader@example.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def inbound(services: Services) -> Iterator[int]:
    controller = make_controller(InboundHandler(services), "127.0.0.1", _free_port())
    controller.start()
    yield controller.port
    controller.stop()


def _send(port: int, rcpt: str, data: bytes | str, mail_from: str = READER) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail(mail_from, [rcpt], data.encode() if isinstance(data, str) else data)


def _reader(services: Services) -> int:
    subscriber, _ = services.subscriptions.add(READER)
    services.backend.clear()  # type: ignore[attr-defined]
    return subscriber.id


def _mailed_reader(services: Services) -> str:
    """A reader who was sent an issue; returns the VERP address its bounces come back to."""
    return mail_an_issue(services, READER)[READER].sender


def _mailed_message_id(services: Services) -> str:
    """A reader who was sent an issue; returns that message's Message-ID (it carries our token)."""
    return mail_an_issue(services, READER)[READER].message_id


def _status(services: Services, email: str = READER) -> SubscriberStatus | None:
    with services.sessions() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email == email))
        return None if found is None else found.status


def _suppression_reasons(services: Services) -> list[str]:
    with services.sessions() as session:
        return list(session.scalars(select(Suppression.reason)))


def _plain(subject: str, sender: str = READER, extra: str = "") -> str:
    return f"From: {sender}\r\nTo: x@example.org\r\nSubject: {subject}\r\n{extra}\r\nhello\r\n"


def _dsn(recipient: str, status: str, message_id: str = "") -> str:
    """A DSN returning the original's headers (with `message_id`, the proof it is about our mail)."""
    original_id = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (
        "From: MAILER-DAEMON@mx.example.com\r\nTo: bounces@example.org\r\nSubject: Undelivered Mail\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {status[0]}50 {status} mailbox problem\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: briefing@example.org\r\n"
        f"To: {recipient}\r\n{original_id}Subject: The Test Briefing\r\n\r\n--B--\r\n"
    )


def _arf(recipient: str, message_id: str = "") -> str:
    original_id = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (
        "From: fbl@isp.example.net\r\nTo: abuse@example.org\r\nSubject: complaint\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\n"
        f"Version: 1\r\nOriginal-Rcpt-To: {recipient}\r\n\r\n"
        "--F\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: briefing@example.org\r\n"
        f"To: {recipient}\r\n{original_id}Subject: The Test Briefing\r\n\r\n--F--\r\n"
    )


def test_unsubscribe_with_the_mailto_token(services: Services, inbound: int) -> None:
    subscriber_id = _reader(services)
    mailto = services.links.unsubscribe_mailto(subscriber_id)
    subject = mailto.split("subject=", 1)[1].replace("%20", " ")
    _send(inbound, "unsubscribe@example.org", _plain(subject, sender="someone-else@example.net"))
    assert _status(services) is SubscriberStatus.UNSUBSCRIBED


def test_unsubscribe_by_from_address_or_forged_token_only_asks_the_reader(services: Services, inbound: int) -> None:
    # From proves nothing (issue 12): the reader is mailed a confirmation, once a day.
    _reader(services)
    _send(inbound, "leave@example.org", _plain("unsubscribe forged.token.value"))
    assert _status(services) is SubscriberStatus.ACTIVE
    _send(inbound, "leave@example.org", _plain("please remove me"))
    assert _status(services) is SubscriberStatus.ACTIVE
    assert [m.recipient for m in services.backend.sent] == [READER]  # type: ignore[attr-defined]


def test_subscribe_starts_double_opt_in(services: Services, inbound: int) -> None:
    _send(inbound, "subscribe@example.org", _plain("", sender="new@example.com"), mail_from="new@example.com")
    assert _status(services, "new@example.com") is SubscriberStatus.PENDING
    sent = services.backend.sent  # type: ignore[attr-defined]
    assert [m.recipient for m in sent] == ["new@example.com"]


def test_help_gets_a_reply_but_an_auto_reply_does_not(services: Services, inbound: int) -> None:
    _send(inbound, "help@example.org", _plain("help"))
    sent = services.backend.sent  # type: ignore[attr-defined]
    assert [m.recipient for m in sent] == [READER]
    assert b"unsubscribe@example.org" in sent[0].data
    services.backend.clear()  # type: ignore[attr-defined]
    away = "away@example.com"  # not READER, who had this day's reply
    _send(inbound, "help@example.org", _plain("Out of office", sender=away, extra="Auto-Submitted: auto-replied\r\n"),
          mail_from=away)
    assert services.backend.sent == []  # type: ignore[attr-defined]


def test_hard_bounce_bounces_and_suppresses(services: Services, inbound: int) -> None:
    verp = _mailed_reader(services)
    _send(inbound, verp, _dsn(READER, "5.1.1"), mail_from="")
    assert _status(services) is SubscriberStatus.BOUNCED
    assert _suppression_reasons(services) == ["bounced"]


def test_soft_bounce_only_counts_until_the_third(services: Services, inbound: int) -> None:
    sent = mail_an_issue(services, READER)[READER]
    verp = sent.sender
    _send(inbound, verp, _dsn(READER, "4.2.2"), mail_from="")
    assert _status(services) is SubscriberStatus.ACTIVE
    assert _suppression_reasons(services) == []
    with services.sessions() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email == READER))
        assert found is not None
        kinds = [event.kind for event in subscriber_history(session, found.id).events]
        assert kinds.count(SubscriberEventKind.SOFT_BOUNCE) == 1
    _send(inbound, verp, _dsn(READER, "4.2.2"), mail_from="")
    assert _status(services) is SubscriberStatus.ACTIVE
    # The plain address too, for a DSN that returns our original (its signed Message-ID).
    _send(inbound, "bounces@example.org", _dsn(READER, "4.2.2", sent.message_id), mail_from="")
    assert _status(services) is SubscriberStatus.BOUNCED
    assert _suppression_reasons(services) == []


def test_arf_complaint_marks_complained_and_suppressed(services: Services, inbound: int) -> None:
    message_id = _mailed_message_id(services)
    _send(inbound, "abuse@example.org", _arf(READER, message_id), mail_from="fbl@isp.example.net")
    assert _status(services) is SubscriberStatus.COMPLAINED
    assert _suppression_reasons(services) == ["complained"]


def test_auto_reply_to_bounces_changes_nothing(services: Services, inbound: int) -> None:
    _reader(services)
    auto = _plain("Out of office: re: The Test Briefing", extra="Auto-Submitted: auto-replied\r\n")
    _send(inbound, "bounces@example.org", auto)
    assert _status(services) is SubscriberStatus.ACTIVE
    assert _suppression_reasons(services) == []
    assert services.backend.sent == []  # type: ignore[attr-defined]


def test_broken_input_changes_nothing_and_the_server_keeps_going(services: Services, inbound: int) -> None:
    verp = _mailed_reader(services)
    junk = b"\xff\xfe\x00garbage\r\nContent-Type: multipart/report; boundary=\r\n\r\n--\xff\r\n" * 50
    for rcpt in ("bounces@example.org", "unsubscribe@example.org", "help@example.org", "abuse@example.org"):
        _send(inbound, rcpt, junk)
    _send(inbound, "bounces@example.org", _dsn("stranger@example.net", "5.1.1"), mail_from="")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(inbound, "nobody@example.org", _plain("hi"))
    assert _status(services) is SubscriberStatus.ACTIVE
    assert _suppression_reasons(services) == []
    _send(inbound, verp, _dsn(READER, "5.1.1"), mail_from="")
    assert _status(services) is SubscriberStatus.BOUNCED


def test_handler_never_raises_on_unknown_recipients(services: Services) -> None:
    lines = InboundHandler(services).handle("", ["someone@elsewhere.test", "bounces+x@example.org"], b"\x00")
    assert lines and lines[0].startswith("ignored")


def test_replying_to_the_confirmation_confirms_but_an_auto_reply_does_not(services: Services, inbound: int) -> None:
    _send(inbound, "join@example.org", _plain("", sender="new@example.com"), mail_from="new@example.com")
    [confirmation] = services.backend.sent  # type: ignore[attr-defined]
    assert confirmation.sender == "bounces@example.org"
    reply_to = email.message_from_bytes(confirmation.data)["Reply-To"]
    assert reply_to.startswith("confirm+") and reply_to.endswith("@example.org")
    assert b"reply to this e-mail" in confirmation.data.replace(b"=\r\n", b"")

    vacation = _plain("Out of office", sender="new@example.com", extra="Auto-Submitted: auto-replied\r\n")
    _send(inbound, reply_to, vacation, mail_from="new@example.com")
    assert _status(services, "new@example.com") is SubscriberStatus.PENDING
    forged = reply_to.replace("confirm+", "confirm+1")
    _send(inbound, forged, _plain("Re: Confirm", sender="new@example.com"), mail_from="new@example.com")
    assert _status(services, "new@example.com") is SubscriberStatus.PENDING

    _send(inbound, reply_to, _plain("Re: Confirm your subscription", sender="new@example.com"), mail_from="new@example.com")
    assert _status(services, "new@example.com") is SubscriberStatus.ACTIVE


def test_soft_bounces_older_than_the_window_do_not_count(services: Services) -> None:
    from datetime import timedelta

    from newsletter.db.base import utcnow
    from newsletter.readers.models import SubscriberEvent

    verp = _mailed_reader(services)
    with services.sessions.begin() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email == READER))
        assert found is not None
        for days in (31, 40):
            session.add(SubscriberEvent(subscriber_id=found.id, kind=SubscriberEventKind.SOFT_BOUNCE,
                                        detail="old", created_at=utcnow() - timedelta(days=days)))
    lines = InboundHandler(services).handle("", [verp], _dsn(READER, "4.2.2").encode())
    assert "counted (1 in 30 days)" in lines[0], lines
    assert _status(services) is SubscriberStatus.ACTIVE
