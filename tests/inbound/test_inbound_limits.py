"""The inbound server under abuse: a burst of 1,000 messages, too many connections, a 50 MB
message, a dead database. It keeps running, refuses what it must with the right SMTP code,
and changes no subscriber it should not."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from newsletter.config import Settings
from newsletter.inbound.handler import InboundHandler
from newsletter.inbound.smtp_server import make_controller
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from tests.factories import add_subscribers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def limited(settings: Settings) -> Iterator[tuple[Services, int]]:
    services = Services.build(settings.model_copy(update={"inbound_max_connections": 4}))
    controller = make_controller(InboundHandler(services), "127.0.0.1", _free_port())
    controller.start()
    yield services, controller.port
    controller.stop()
    services.close()


def _plain(sender: str, subject: str = "remove me") -> bytes:
    return f"From: {sender}\r\nTo: leave@example.org\r\nSubject: {subject}\r\n\r\nplease\r\n".encode()


def _counts(services: Services) -> dict[SubscriberStatus, int]:
    with services.sessions() as session:
        rows = session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status))
        return {status: count for status, count in rows}


def test_a_burst_of_1000_messages_is_all_handled(limited: tuple[Services, int]) -> None:
    services, port = limited
    leavers = add_subscribers(services.sessions, 400, prefix="leaver")
    add_subscribers(services.sessions, 100, prefix="stayer")
    junk = b"\xff\xfe\x00garbage\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\xff\r\n"
    stranger_dsn = (
        b"From: MAILER-DAEMON@mx.example.com\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; stayer1@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--B--\r\n"
    )
    work: list[tuple[str, str, bytes]] = []
    for i, subscriber_id in enumerate(leavers):  # the List-Unsubscribe mailto: acts at once
        token = services.tokens.unsubscribe_token(subscriber_id)
        work.append((f"leaver{i}@example.net", "unsubscribe@example.org", _plain(f"leaver{i}@example.net", f"unsubscribe {token}")))
    for i in range(300):
        work.append(("spam@spam.test", "subscribe@example.org" if i % 2 else "help@example.org", junk))
    for _ in range(300):  # a forged bounce (never mailed) for a reader who stays
        work.append(("", "bounces+1-aaaaaaaaaaaaaaaa@example.org", stranger_dsn))

    def deliver(chunk: list[tuple[str, str, bytes]]) -> int:
        done = 0
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for mail_from, rcpt, data in chunk:
                smtp.sendmail(mail_from, [rcpt], data)
                done += 1
        return done

    chunks = [work[i::4] for i in range(4)]  # four connections at once: the limit
    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(deliver, chunks)) == 1000

    counts = _counts(services)
    assert counts.get(SubscriberStatus.UNSUBSCRIBED) == 400
    assert counts.get(SubscriberStatus.ACTIVE) == 100
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        assert smtp.noop()[0] == 250


def test_connections_over_the_limit_are_told_to_come_back_later(limited: tuple[Services, int]) -> None:
    _, port = limited
    held = [smtplib.SMTP("127.0.0.1", port, timeout=10) for _ in range(4)]
    try:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", port, timeout=10)
        assert refused.value.smtp_code == 421
        held.pop().quit()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:  # a place came free
            assert smtp.noop()[0] == 250
    finally:
        for smtp in held:
            smtp.quit()


def test_a_50_mb_message_is_refused_and_the_server_goes_on(limited: tuple[Services, int]) -> None:
    services, port = limited
    [leaver] = add_subscribers(services.sessions, 1, prefix="leaver")
    big = _plain("leaver0@example.net") + b"A" * 76 + b"\r\n" * 1 + (b"B" * 998 + b"\r\n") * 52_000
    assert len(big) > 50_000_000
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        # A client that declares SIZE is refused before it sends a byte of it...
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail("leaver0@example.net", ["unsubscribe@example.org"], big)
        assert refused.value.smtp_code == 552
        # ...and one that does not, once the limit is passed in DATA.
        smtp.mail("leaver0@example.net")
        smtp.rcpt("unsubscribe@example.org")
        code, _ = smtp.data(big)
        assert code == 552
    assert _counts(services) == {SubscriberStatus.ACTIVE: 1}
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        unsubscribe = _plain("leaver0@example.net", f"unsubscribe {services.tokens.unsubscribe_token(leaver)}")
        smtp.sendmail("leaver0@example.net", ["unsubscribe@example.org"], unsubscribe)
    assert _counts(services) == {SubscriberStatus.UNSUBSCRIBED: 1}


def test_a_dead_database_defers_the_message_so_the_sender_retries(settings: Settings) -> None:
    dead = settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/none"})
    services = Services.build(dead, run_migrations=False)
    controller = make_controller(InboundHandler(services), "127.0.0.1", _free_port())
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=30) as smtp:
            with pytest.raises(smtplib.SMTPDataError) as deferred:
                smtp.sendmail("ana@example.net", ["unsubscribe@example.org"], _plain("ana@example.net"))
            assert deferred.value.smtp_code == 451
    finally:
        controller.stop()
        services.close()
