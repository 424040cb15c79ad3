"""Commands by mail from someone who may be lying about From (issue 12): a plain unsubscribe@
only mails the reader a confirmation, help@ is no reflector, a dead database defers, and idle
clients cannot lock everyone else out. All over real SMTP to our aiosmtpd server."""

from __future__ import annotations

import email
import email.policy
import re
import smtplib
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.inbound.handler import InboundHandler
from newsletter.inbound.smtp_server import make_controller
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services

READER = "reader@example.com"
VICTIM = "victim@example.net"
ATTACKER = "attacker@evil.test"
START = datetime(2026, 3, 4, 12, tzinfo=timezone.utc)


class Clock:
    """The handler's `now`: set by the test, never the real time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def inbound(services: Services, clock: Clock) -> Iterator[int]:
    controller = make_controller(InboundHandler(services, now=clock), "127.0.0.1", _free_port())
    controller.start()
    yield controller.port
    controller.stop()


def _send(port: int, rcpt: str, data: str, mail_from: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail(mail_from, [rcpt], data.encode())


def _mail(sender: str, subject: str) -> str:
    return f"From: {sender}\r\nTo: list@example.org\r\nSubject: {subject}\r\n\r\nplease\r\n"


def _sent(services: Services) -> list[EmailMessage]:
    return [email.message_from_bytes(m.data, policy=email.policy.default)  # type: ignore[misc]
            for m in services.backend.sent]  # type: ignore[attr-defined]


def _recipients(services: Services) -> list[str]:
    return [m.recipient for m in services.backend.sent]  # type: ignore[attr-defined]


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def _status(services: Services, address: str = READER) -> SubscriberStatus | None:
    with services.sessions() as session:
        return session.scalar(select(Subscriber.status).where(Subscriber.email == address))


def _reader(services: Services, address: str = READER) -> int:
    subscriber, _ = services.subscriptions.add(address)
    return subscriber.id


# -- unsubscribe@: a plain request is confirmed by the reader, a token acts at once ------------


def test_a_forged_unsubscribe_only_mails_the_reader_a_link_that_unsubscribes(
    services: Services, inbound: int, client: TestClient
) -> None:
    _reader(services)
    for _ in range(20):  # the attacker's From is the reader's; the envelope is the attacker's
        _send(inbound, "unsubscribe@example.org", _mail(READER, "remove me"), mail_from=ATTACKER)
    assert _status(services) is SubscriberStatus.ACTIVE
    [confirmation] = _sent(services)  # one, however many requests: limited like help replies
    assert str(confirmation["To"]) == READER
    [url] = re.findall(r"https?://\S+/unsubscribe/\S+", _text(confirmation))
    path = url.split("newsletter.test", 1)[1]

    page = client.get(path)  # a mail scanner's GET only shows the button
    assert page.status_code == 200
    assert _status(services) is SubscriberStatus.ACTIVE
    assert client.post(path).status_code == 200
    assert _status(services) is SubscriberStatus.UNSUBSCRIBED


def test_replying_to_the_confirmation_unsubscribes(services: Services, inbound: int) -> None:
    _reader(services)
    _send(inbound, "leave@example.org", _mail(READER, "stop"), mail_from=READER)
    [confirmation] = _sent(services)
    assert _status(services) is SubscriberStatus.ACTIVE
    reply_to, subject = str(confirmation["Reply-To"]), str(confirmation["Subject"])
    assert reply_to == "unsubscribe@example.org"
    _send(inbound, reply_to, _mail(READER, f"Re: {subject}"), mail_from=READER)
    assert _status(services) is SubscriberStatus.UNSUBSCRIBED


def test_the_list_unsubscribe_token_acts_at_once_from_anyone(services: Services, inbound: int) -> None:
    subscriber_id = _reader(services)
    token = services.tokens.unsubscribe_token(subscriber_id)
    _send(inbound, "unsubscribe@example.org", _mail(ATTACKER, f"unsubscribe {token}"), mail_from=ATTACKER)
    assert _status(services) is SubscriberStatus.UNSUBSCRIBED
    assert _recipients(services) == []


def test_nothing_is_sent_to_strangers_or_readers_who_are_not_subscribed(services: Services, inbound: int) -> None:
    left = _reader(services, "left@example.com")
    services.subscriptions.unsubscribe(left)
    for sender in (VICTIM, "left@example.com", "not an address"):
        _send(inbound, "unsubscribe@example.org", _mail(sender, "unsubscribe"), mail_from=ATTACKER)
    assert _recipients(services) == []


# -- help@: at most once a day, never to a suppressed address, only to a matching envelope -------


def test_twenty_help_mails_with_a_victims_from_send_one_reply_a_day(
    services: Services, inbound: int, clock: Clock
) -> None:
    for _ in range(20):  # the forger sets the envelope sender to the victim too
        _send(inbound, "help@example.org", _mail(VICTIM, "help"), mail_from=VICTIM)
    assert _recipients(services) == [VICTIM]
    assert "unsubscribe@example.org" in _text(_sent(services)[0])

    clock.now = START + timedelta(hours=23)
    _send(inbound, "help@example.org", _mail(VICTIM, "help"), mail_from=VICTIM)
    assert _recipients(services) == [VICTIM]
    clock.now = START + timedelta(days=1, minutes=1)  # the next day: answered again, once
    for _ in range(3):
        _send(inbound, "help@example.org", _mail(VICTIM, "help"), mail_from=VICTIM)
    assert _recipients(services) == [VICTIM, VICTIM]


def test_help_mails_arriving_together_still_send_one_reply(services: Services, inbound: int) -> None:
    def four(_: int) -> None:
        with smtplib.SMTP("127.0.0.1", inbound, timeout=30) as smtp:
            for _ in range(5):
                smtp.sendmail(VICTIM, ["help@example.org"], _mail(VICTIM, "help").encode())

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(four, range(4)))
    assert _recipients(services) == [VICTIM]


def test_a_reply_the_backend_could_not_send_is_sent_on_the_next_request(services: Services, inbound: int) -> None:
    from newsletter.mail.backends import BackendError

    services.backend.fail_with = BackendError("relay down")  # type: ignore[attr-defined]
    _send(inbound, "help@example.org", _mail(VICTIM, "help"), mail_from=VICTIM)
    assert _recipients(services) == []
    services.backend.fail_with = None  # type: ignore[attr-defined]
    _send(inbound, "help@example.org", _mail(VICTIM, "help"), mail_from=VICTIM)
    assert _recipients(services) == [VICTIM]  # the failed reply did not use up the day's


def test_help_is_never_sent_to_a_suppressed_address(services: Services, inbound: int) -> None:
    with services.sessions.begin() as session:
        services.suppression.add(session, [VICTIM], "complained")
    _send(inbound, "help@example.org", _mail(VICTIM, "help"), mail_from=VICTIM)
    assert _recipients(services) == []


def test_help_is_not_answered_when_the_envelope_sender_is_not_the_from_address(
    services: Services, inbound: int
) -> None:
    _send(inbound, "help@example.org", _mail(VICTIM, "help"), mail_from=ATTACKER)
    _send(inbound, "help@example.org", _mail(VICTIM, "help"), mail_from="")  # a null sender: a bounce
    assert _recipients(services) == []
    _send(inbound, "help@example.org", _mail(f"Victim <{VICTIM.upper()}>", "help"), mail_from=VICTIM)
    assert _recipients(services) == [VICTIM.upper()]  # the same mailbox, spelt differently


# -- subscribe+<slug>@: another list, the same consent as its subscribe page ------------------


def _lists_of(services: Services, address: str) -> dict[str, str]:
    from newsletter.lists.models import MailingList, Subscription

    with services.sessions() as session:
        rows = session.execute(select(MailingList.slug, Subscription.status)
                               .join(Subscription, Subscription.list_id == MailingList.id)
                               .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
                               .where(Subscriber.email == address))
        return {slug: status.value for slug, status in rows}


def test_subscribe_plus_a_slug_asks_for_that_list_until_the_mailbox_confirms(
    services: Services, inbound: int
) -> None:
    from newsletter.lists.catalog import create_list

    create_list(services.sessions, "Tech Notes")
    _reader(services)  # active on the first list: joining another still needs the mailbox's yes
    _send(inbound, "subscribe+tech-notes@example.org", _mail(READER, "subscribe"), mail_from=READER)
    assert _lists_of(services, READER) == {"the-weekly-briefing": "active", "tech-notes": "pending"}
    [asked] = _sent(services)
    assert str(asked["To"]) == READER and "Tech Notes" in _text(asked)
    _send(inbound, str(asked["Reply-To"]), _mail(READER, f"Re: {asked['Subject']}"), mail_from=READER)
    assert _lists_of(services, READER) == {"the-weekly-briefing": "active", "tech-notes": "active"}

    _send(inbound, "JOIN+Tech-Notes@example.org", _mail("New <new@example.com>", "join"), mail_from="new@example.com")
    assert _lists_of(services, "new@example.com") == {"tech-notes": "pending"}
    assert _status(services, "new@example.com") is SubscriberStatus.PENDING


@pytest.mark.parametrize("rcpt", ["subscribe+no-such-list@example.org", "subscribe+Not_A_Slug@example.org",
                                  "nosuchcommand@example.org"])
def test_an_unknown_list_gets_the_answer_of_an_unknown_address(services: Services, inbound: int, rcpt: str) -> None:
    from newsletter.lists.catalog import create_list

    create_list(services.sessions, "Tech Notes")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        _send(inbound, rcpt, _mail(READER, "subscribe"), mail_from=READER)
    assert refused.value.recipients[rcpt] == (550, b"5.1.1 No such user here")
    assert _recipients(services) == [] and _status(services) is None
    handler = InboundHandler(services, now=Clock(START))  # and from a mailbox poll: nothing done either
    assert handler.handle(READER, [rcpt], _mail(READER, "subscribe").encode()) == [
        f"ignored: {rcpt} is not one of our addresses"]
    assert _status(services) is None


# -- a dead database -----------------------------------------------------------------------


@pytest.mark.parametrize("rcpt", ["subscribe@example.org", "unsubscribe@example.org", "help@example.org",
                                  "subscribe+tech-notes@example.org"])
def test_a_command_with_the_database_down_answers_451(settings: Settings, rcpt: str) -> None:
    dead = Services.build(settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/none"}),
                          run_migrations=False)
    controller = make_controller(InboundHandler(dead, now=Clock(START)), "127.0.0.1", _free_port())
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=30) as smtp:
            if "+" in rcpt:  # the list is looked up at RCPT
                with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                    smtp.sendmail(VICTIM, [rcpt], _mail(VICTIM, "subscribe").encode())
                assert refused.value.recipients[rcpt][0] == 451  # a temporary answer: retried later
            else:
                with pytest.raises(smtplib.SMTPDataError) as deferred:
                    smtp.sendmail(VICTIM, [rcpt], _mail(VICTIM, "subscribe").encode())
                assert deferred.value.smtp_code == 451  # not 250: the sender keeps the message and retries
            assert smtp.noop()[0] == 250
    finally:
        controller.stop()
        dead.close()
    assert dead.backend.sent == []  # type: ignore[attr-defined]


# -- idle connections ----------------------------------------------------------------------


def _server(settings: Settings, **limits: object) -> tuple[Services, object]:
    services = Services.build(settings.model_copy(update=limits))
    controller = make_controller(InboundHandler(services, now=Clock(START)), "127.0.0.1", _free_port())
    controller.start()
    return services, controller


def test_fifty_idle_connections_from_one_client_do_not_lock_out_another(settings: Settings) -> None:
    services, controller = _server(settings)
    port = controller.port  # type: ignore[attr-defined]
    held: list[smtplib.SMTP] = []
    refused: list[int] = []
    try:
        for _ in range(50):  # all from 127.0.0.2, saying nothing after the greeting
            try:
                held.append(smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=("127.0.0.2", 0)))
            except smtplib.SMTPConnectError as exc:
                refused.append(exc.smtp_code)
        assert len(held) == settings.inbound_max_per_client
        assert set(refused) == {421}
        with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=("127.0.0.3", 0)) as smtp:
            smtp.sendmail(VICTIM, ["help@example.org"], _mail(VICTIM, "help").encode())
        assert _recipients(services) == [VICTIM]
    finally:
        for smtp in held:
            smtp.close()
        controller.stop()  # type: ignore[attr-defined]
        services.close()


def test_an_idle_client_is_hung_up_on_and_its_place_freed(settings: Settings) -> None:
    services, controller = _server(settings, inbound_max_connections=2, inbound_idle_timeout=0.5)
    port = controller.port  # type: ignore[attr-defined]
    idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(2)]
    try:
        for sock in idle:
            assert sock.recv(1024).startswith(b"220")
            # The server hangs up (aiosmtpd's default waits 300 s: this recv would time out).
            while sock.recv(1024):
                pass
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:  # both places are free again
            assert smtp.noop()[0] == 250
    finally:
        for sock in idle:
            sock.close()
        controller.stop()  # type: ignore[attr-defined]
        services.close()


class _SlowHandler(InboundHandler):
    """Handles each message more slowly than the idle timeout (a busy database, a slow relay)."""

    def handle(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> list[str]:
        time.sleep(1.0)  # twice the idle timeout below: the old timer would have hung up meanwhile
        return super().handle(mail_from, rcpt_tos, data)


def test_a_message_handled_slower_than_the_idle_timeout_still_gets_its_reply(settings: Settings) -> None:
    services = Services.build(settings.model_copy(update={"inbound_idle_timeout": 0.5}))
    controller = make_controller(_SlowHandler(services, now=Clock(START)), "127.0.0.1", _free_port())
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=30) as smtp:
            assert smtp.sendmail(VICTIM, ["help@example.org"], _mail(VICTIM, "help").encode()) == {}
        assert _recipients(services) == [VICTIM]
    finally:
        controller.stop()
        services.close()
