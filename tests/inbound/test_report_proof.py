"""A bounce or complaint is believed only with proof: one of our signed tokens, in the address it
came to (VERP) or in the original it returns (the delivery's Message-ID, its Return-Path, a
confirmation's Reply-To). Anyone can write the rest; they change nothing and are kept for the
owner. Every report here goes over real SMTP to our inbound server (aiosmtpd)."""

from __future__ import annotations

import json
import logging
import smtplib
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.inbound.handler import InboundHandler
from newsletter.inbound.smtp_server import make_controller
from newsletter.inbound.unverified import unverified_reports
from newsletter.mail.backends import OutgoingMessage
from newsletter.mail.message import make_message_id
from newsletter.mail.signed_addresses import MESSAGE_ID, SignedAddresses
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from tests.cli_runner import Run, make_run
from tests.factories import mail_an_issue

ANA, BOB, CAROL = "ana@example.net", "bob@example.net", "carol@example.net"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _inbound(services: Services) -> Iterator[int]:
    """Our inbound SMTP server for these services; yields its port."""
    controller = make_controller(InboundHandler(services), "127.0.0.1", _free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def _send(port: int, rcpt: str, data: bytes, mail_from: str = "") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail(mail_from, [rcpt], data)


def _headers(message: OutgoingMessage) -> str:
    """The header block of a message we sent, as a DSN's text/rfc822-headers part returns it."""
    return message.data.partition(b"\r\n\r\n")[0].decode("ascii")


def _dsn(*recipients: str, status: str = "5.1.1", original: str = "") -> bytes:
    """A DSN naming `recipients`; with `original`, the returned message's headers."""
    blocks = "".join(
        f"Final-Recipient: rfc822; {r}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} no such mailbox\r\n\r\n"
        for r in recipients
    )
    returned = f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n{original}\r\n\r\n" if original else ""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: bounces@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n{blocks}"
        f"{returned}--B--\r\n"
    ).encode()


def _arf(recipient: str, original: str = "") -> bytes:
    """An ARF abuse report; the original (message/rfc822) is `original`'s headers, or a plain one."""
    headers = original or f"From: briefing@example.org\r\nTo: {recipient}\r\nSubject: The Test Briefing"
    rcpt_to = f"Original-Rcpt-To: {recipient}\r\n" if recipient else ""
    return (
        "From: fbl@isp.example.net\r\nTo: abuse@example.org\r\nSubject: FW: complaint\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\n"
        f"Version: 1\r\n{rcpt_to}\r\n"
        f"--F\r\nContent-Type: message/rfc822\r\n\r\n{headers}\r\n\r\nThe newsletter.\r\n\r\n--F--\r\n"
    ).encode()


def _standing(services: Services, address: str) -> tuple[SubscriberStatus, bool]:
    """The reader's status and whether the address is suppressed."""
    with services.sessions() as session:
        status = session.scalar(select(Subscriber.status).where(Subscriber.email == address))
        assert status is not None
        return status, bool(services.suppression.suppressed(session, [address]))


@pytest.fixture
def verp_off(settings: Settings) -> Iterator[Services]:
    """Services sending with VERP off: the envelope sender is the plain From address."""
    services = Services.build(settings.model_copy(update={"verp": False}))
    yield services
    services.close()


ACTIVE = (SubscriberStatus.ACTIVE, False)


# -- what changed nothing before this fix changed a reader


def test_a_forged_plain_dsn_to_postmaster_or_bounces_changes_nothing_and_is_kept(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="newsletter.inbound.handler")
    mail_an_issue(services, BOB)  # a real reader, mailed: the old code believed any report about him
    with _inbound(services) as port:
        _send(port, "postmaster@example.org", _dsn(BOB))
        _send(port, "bounces@example.org", _dsn(BOB))
    assert _standing(services, BOB) == ACTIVE
    reports = unverified_reports(services.sessions)
    assert [(r.kind, r.sent_to, r.addresses) for r in reports] == [
        ("bounce", "bounces@example.org", [BOB]), ("bounce", "postmaster@example.org", [BOB])]
    assert "none of our signed tokens" in reports[0].reason
    assert any("not verified" in m and BOB in m and "nothing changed" in m for m in caplog.messages)


def test_a_forged_arf_to_abuse_changes_nothing(services: Services) -> None:
    mail_an_issue(services, CAROL)
    with _inbound(services) as port:
        _send(port, "abuse@example.org", _arf(CAROL), mail_from="fbl@isp.example.net")
    assert _standing(services, CAROL) == ACTIVE
    [report] = unverified_reports(services.sessions)
    assert (report.kind, report.sent_to, report.addresses) == ("complaint", "abuse@example.org", [CAROL])


def test_a_dsn_naming_three_pending_readers_changes_nothing(services: Services) -> None:
    pending = ["p1@example.net", "p2@example.net", "p3@example.net"]
    for address in pending:
        services.subscriptions.subscribe(address)  # each was sent a confirmation email
    with _inbound(services) as port:
        _send(port, "bounces@example.org", _dsn(*pending))
    assert [_standing(services, a) for a in pending] == [(SubscriberStatus.PENDING, False)] * 3
    [report] = unverified_reports(services.sessions)
    assert report.addresses == pending


# -- with proof


def test_verp_off_a_dsn_returning_our_message_id_bounces_exactly_that_reader(verp_off: Services) -> None:
    services = verp_off
    sent = mail_an_issue(services, ANA, BOB)
    assert {m.sender for m in sent.values()} == {"briefing@example.org"}  # no VERP token to go by
    assert ".d-" in sent[ANA].message_id  # the delivery's signed token, in the Message-ID
    with _inbound(services) as port:
        _send(port, "bounces@example.org", _dsn(ANA, original=_headers(sent[ANA])))
    assert _standing(services, ANA) == (SubscriberStatus.BOUNCED, True)
    assert _standing(services, BOB) == ACTIVE
    with services.sessions() as session:
        statuses = dict(session.execute(
            select(Subscriber.email, Delivery.status).join(Delivery, Delivery.subscriber_id == Subscriber.id)).all())
    assert statuses == {ANA: DeliveryStatus.BOUNCED, BOB: DeliveryStatus.SENT}
    assert unverified_reports(services.sessions) == []


def test_the_proof_names_the_reader_not_the_addresses_beside_it(verp_off: Services) -> None:
    sent = mail_an_issue(verp_off, ANA, BOB)
    # Ana's own copy, turned into a report that also names Bob: only Ana is believed.
    with _inbound(verp_off) as port:
        _send(port, "postmaster@example.org", _dsn(ANA, BOB, original=_headers(sent[ANA])))
    assert _standing(verp_off, ANA) == (SubscriberStatus.BOUNCED, True)
    assert _standing(verp_off, BOB) == ACTIVE
    [report] = unverified_reports(verp_off.sessions)
    assert report.addresses == [BOB] and "without proof" in report.reason


def test_a_tampered_token_changes_nothing(verp_off: Services) -> None:
    sent = mail_an_issue(verp_off, ANA, BOB)
    ana_id, bob_id = sent[ANA].message_id, sent[BOB].message_id
    ana_token = ana_id.split(".d-")[1].split("@")[0]
    bob_delivery = bob_id.split(".d-")[1].split("-")[0]
    flipped = ana_token[:-1] + ("a" if ana_token[-1] != "a" else "b")
    borrowed = f"{bob_delivery}-{ana_token.split('-')[1]}"  # Bob's delivery under Ana's signature
    forged = [ana_id.replace(ana_token, flipped), ana_id.replace(ana_token, borrowed)]
    with _inbound(verp_off) as port:
        for message_id in forged:
            _send(port, "bounces@example.org", _dsn(ANA, BOB, original=f"To: {ANA}\r\nMessage-ID: {message_id}"))
        # A Return-Path with a forged VERP token is no proof either.
        _send(port, "bounces@example.org",
              _dsn(BOB, original=f"Return-Path: <bounces+{borrowed}@example.org>\r\nTo: {BOB}"))
    assert _standing(verp_off, ANA) == _standing(verp_off, BOB) == ACTIVE
    reports = unverified_reports(verp_off.sessions)
    assert len(reports) == 3 and all("forged or damaged" in r.reason for r in reports)


def test_a_complaint_with_the_address_redacted_is_pinned_by_the_message_id(services: Services) -> None:
    sent = mail_an_issue(services, CAROL)
    # Many feedback loops redact the recipient; the original's Message-ID survives.
    redacted = _headers(sent[CAROL]).replace(CAROL, "redacted@isp.example.net")
    with _inbound(services) as port:
        _send(port, "abuse@example.org", _arf("", original=redacted), mail_from="fbl@isp.example.net")
    assert _standing(services, CAROL) == (SubscriberStatus.COMPLAINED, True)


def test_a_confirmation_bounce_is_believed_only_with_its_signed_reply_to(services: Services) -> None:
    services.subscriptions.subscribe("new@example.net")
    services.subscriptions.subscribe("other@example.net")
    confirmations = {m.recipient: m for m in services.backend.sent}  # type: ignore[attr-defined]
    assert "Reply-To: confirm+" in _headers(confirmations["new@example.net"])
    with _inbound(services) as port:
        _send(port, "bounces@example.org", _dsn("new@example.net", original=_headers(confirmations["new@example.net"])))
        _send(port, "bounces@example.org", _dsn("other@example.net", original="To: other@example.net\r\nSubject: x"))
    assert _standing(services, "new@example.net") == (SubscriberStatus.BOUNCED, True)
    assert _standing(services, "other@example.net") == (SubscriberStatus.PENDING, False)


def test_the_message_id_token_is_deterministic_and_signed() -> None:
    one = make_message_id(3, 42, "example.org", secret_key="k", delivery_id=7)
    assert one == make_message_id(3, 42, "example.org", secret_key="k", delivery_id=7)  # a resend: the same id
    assert one.startswith("<issue-3.reader-42.d-7-") and one.endswith("@example.org>")
    assert one != make_message_id(3, 42, "example.org", secret_key="other", delivery_id=7)
    token = one.split(".d-")[1].split("@")[0]
    assert SignedAddresses("k", "", MESSAGE_ID).read_token(token) == 7
    assert make_message_id(3, 42, "example.org") == "<issue-3.reader-42@example.org>"  # previews: unsigned


# -- the owner sees them


def test_the_owner_lists_unverified_reports_from_the_command_line(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    mail_an_issue(services, BOB)
    with _inbound(services) as port:
        _send(port, "postmaster@example.org", _dsn(BOB))
    (tmp_path / "cli").mkdir()
    run: Run = make_run(tmp_path / "cli", settings.database)  # the command, on the same database
    listed = json.loads(run("bounces", "unverified", "--json").stdout)
    [report] = listed["reports"]
    assert (report["kind"], report["sent_to"], report["addresses"]) == ("bounce", "postmaster@example.org", [BOB])
    assert "none of our signed tokens" in report["reason"]
    text = run("bounces", "unverified").stdout
    assert "1 unverified reports" in text and BOB in text


def test_bounces_parse_shows_the_proof_it_found(run: Run, tmp_path: Path) -> None:
    token_id = make_message_id(1, 2, "example.org", secret_key="k", delivery_id=5)
    path = tmp_path / "dsn.eml"
    path.write_bytes(_dsn(ANA, original=f"To: {ANA}\r\nMessage-ID: {token_id}"))
    data = json.loads(run("bounces", "parse", str(path), "--json").stdout)
    assert data["proofs"] == [{"kind": "message-id", "token": token_id.split(".d-")[1].split("@")[0]}]
