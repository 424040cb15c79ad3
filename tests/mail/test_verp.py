"""VERP: each delivery's envelope sender names it, so a bounce is pinned on the right reader
however little the remote server's report says; a forged token changes nothing."""

from __future__ import annotations

import email

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.readers.history import subscriber_history
from newsletter.inbound.handler import InboundHandler
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.readers.models import Subscriber, SubscriberEventKind, SubscriberStatus
from newsletter.services import Services
from newsletter.mail.signed_addresses import BOUNCES, CONFIRM, SignedAddresses
from newsletter.mail.tokens import InvalidToken
from tests.factories import mail_an_issue

KEY = "test-secret-key"


def _dsn(recipient: str, status: str = "5.1.1", to: str = "bounces@example.org", original: str = "") -> bytes:
    """A DSN; with `original`, the headers of the returned message follow the status block."""
    returned = f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n{original}\r\n" if original else ""
    return (
        f"From: MAILER-DAEMON@mx.example.com\r\nTo: {to}\r\nSubject: Undelivered Mail\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} no such mailbox\r\n\r\n{returned}--B--\r\n"
    ).encode()


def _local(address: str) -> str:
    return address.rpartition("@")[0]


def _subscriber(services: Services, address: str) -> Subscriber:
    with services.sessions() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email == address))
        assert found is not None
        return found


def _delivery_status(services: Services, address: str) -> DeliveryStatus:
    with services.sessions() as session:
        status = session.scalar(
            select(Delivery.status).join(Subscriber, Subscriber.id == Delivery.subscriber_id).where(Subscriber.email == address)
        )
        assert status is not None
        return status


# -- the token ---------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=2**63 - 1))
def test_a_token_names_its_id_even_with_its_case_folded(value: int) -> None:
    verp = SignedAddresses(KEY, "example.org", BOUNCES)
    address = verp.address(value)
    local = _local(address)
    assert address.endswith("@example.org") and len(local) <= 64
    assert verp.read(local) == value
    assert verp.read(local.upper()) == value


def test_a_changed_or_foreign_token_names_nothing() -> None:
    verp = SignedAddresses(KEY, "example.org", BOUNCES)
    local = _local(verp.address(41))
    tampered = local.replace("+29-", "+2a-")
    for bad in (tampered, local[:-1] + ("a" if local[-1] != "a" else "b"), "bounces+29", "bounces+zz-abc", "bounces"):
        with pytest.raises(InvalidToken):
            verp.read(bad)
    # Another key, or the confirm-by-reply purpose, does not verify a bounce token.
    with pytest.raises(InvalidToken):
        SignedAddresses("another-key", "example.org", BOUNCES).read(local)
    confirm = SignedAddresses(KEY, "example.org", CONFIRM)
    with pytest.raises(InvalidToken):
        confirm.read("confirm+" + local.partition("+")[2])


# -- the sending side --------------------------------------------------------------------


def test_every_delivery_has_its_own_signed_envelope_sender(services: Services) -> None:
    sent = mail_an_issue(services, "ana@example.net", "bo@example.net")
    senders = {reader: message.sender for reader, message in sent.items()}
    verp = SignedAddresses(services.settings.secret_key, "example.org", BOUNCES)
    with services.sessions() as session:
        ids = {row.email: row.id for row in session.execute(select(Subscriber.email, Delivery.id).join(Delivery))}
    assert len(set(senders.values())) == 2
    for reader, sender in senders.items():
        assert sender.endswith("@example.org") and sender.startswith("bounces+")
        assert verp.read(_local(sender)) == ids[reader]
    # The From header is still the list's address: only the envelope changes.
    assert email.message_from_bytes(sent["ana@example.net"].data)["From"] == "The Test Briefing <briefing@example.org>"


def test_verp_off_uses_the_from_address(settings: Settings) -> None:
    services = Services.build(settings.model_copy(update={"verp": False}))
    try:
        sent = mail_an_issue(services, "ana@example.net")
        assert sent["ana@example.net"].sender == "briefing@example.org"
    finally:
        services.close()


# -- the receiving side ------------------------------------------------------------------


def test_a_bounce_to_the_verp_address_bounces_that_reader_whatever_the_report_names(services: Services) -> None:
    senders = {reader: message.sender for reader, message in mail_an_issue(services, "ana@example.net", "bo@example.net").items()}
    # Ana's mail was forwarded; the remote server reports the forwarding address instead.
    lines = InboundHandler(services).handle("", [senders["ana@example.net"]], _dsn("ana.forward@elsewhere.net"))
    assert any("bounced and suppressed" in line for line in lines), lines
    assert _subscriber(services, "ana@example.net").status is SubscriberStatus.BOUNCED
    assert _delivery_status(services, "ana@example.net") is DeliveryStatus.BOUNCED
    assert _subscriber(services, "bo@example.net").status is SubscriberStatus.ACTIVE
    assert _delivery_status(services, "bo@example.net") is DeliveryStatus.SENT
    with services.sessions() as session:
        assert services.suppression.suppressed(session, ["ana@example.net"]) == {"ana@example.net"}
        ana = _subscriber(services, "ana@example.net")
        events = subscriber_history(session, ana.id).events
        assert events[0].kind is SubscriberEventKind.BOUNCED and "5.1.1" in events[0].detail


def test_a_report_that_names_no_one_is_still_pinned_by_the_verp_token(services: Services) -> None:
    senders = {reader: message.sender for reader, message in mail_an_issue(services, "ana@example.net").items()}
    text_bounce = (
        b"From: postmaster@mx.example.com\r\nTo: whoever\r\nSubject: failure notice\r\n\r\n"
        b"Sorry, we were unable to deliver your message. 550 5.1.1 User unknown\r\n"
    )
    InboundHandler(services).handle("", [senders["ana@example.net"]], text_bounce)
    assert _subscriber(services, "ana@example.net").status is SubscriberStatus.BOUNCED


def test_a_forged_token_or_a_plain_report_changes_nothing(services: Services) -> None:
    sent = mail_an_issue(services, "ana@example.net")
    senders = {reader: message.sender for reader, message in sent.items()}
    services.subscriptions.add("never@example.net")  # active, but never sent an issue
    handler = InboundHandler(services)
    forged = _local(senders["ana@example.net"])[:-2] + "aa@example.org"
    lines = handler.handle("", [forged], _dsn("ana@example.net"))
    assert "nothing changed" in lines[0]
    lines = handler.handle("", ["bounces+ffff-aaaaaaaaaaaaaaaa@example.org"], _dsn("ana@example.net"))
    assert "nothing changed" in lines[0]
    lines = handler.handle("", ["bounces@example.org"], _dsn("never@example.net"))
    assert "not verified" in lines[0]
    # A plain report about a reader who was mailed is not believed either: anyone can write one.
    lines = handler.handle("", ["bounces@example.org"], _dsn("ana@example.net"))
    assert "not verified" in lines[0] and "nothing changed" in lines[0]
    assert _subscriber(services, "ana@example.net").status is SubscriberStatus.ACTIVE
    assert _subscriber(services, "never@example.net").status is SubscriberStatus.ACTIVE
    # Returning our original (its Message-ID carries the delivery's token) is the proof.
    original = f"To: ana@example.net\r\nMessage-ID: {sent['ana@example.net'].message_id}\r\n"
    handler.handle("", ["bounces@example.org"], _dsn("ana@example.net", original=original))
    assert _subscriber(services, "ana@example.net").status is SubscriberStatus.BOUNCED


def test_a_bounce_for_an_erased_reader_changes_nothing(services: Services) -> None:
    senders = {reader: message.sender for reader, message in mail_an_issue(services, "ana@example.net").items()}
    assert services.subscriptions.erase("ana@example.net")
    lines = InboundHandler(services).handle("", [senders["ana@example.net"]], _dsn("ana@example.net"))
    assert "no such delivery" in lines[0]


def test_an_auto_reply_to_the_verp_address_is_recorded_not_counted(services: Services) -> None:
    senders = {reader: message.sender for reader, message in mail_an_issue(services, "ana@example.net").items()}
    vacation = (
        b"From: ana@example.net\r\nTo: x\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\n"
        b"I am away until Monday.\r\n"
    )
    lines = InboundHandler(services).handle("ana@example.net", [senders["ana@example.net"]], vacation)
    assert "auto-reply" in lines[0]
    subscriber = _subscriber(services, "ana@example.net")
    assert subscriber.status is SubscriberStatus.ACTIVE
    with services.sessions() as session:
        kinds = [event.kind for event in subscriber_history(session, subscriber.id).events]
    assert SubscriberEventKind.AUTO_REPLY in kinds and SubscriberEventKind.SOFT_BOUNCE not in kinds
    assert services.backend.sent == []  # type: ignore[attr-defined]


def test_one_off_mail_goes_out_from_the_plain_bounce_address(services: Services) -> None:
    """Confirmation, welcome and a reader's change of address: their bounces must reach inbound."""
    from newsletter.issues.list_profile import save_profile
    from newsletter.readers.preferences import Preferences

    save_profile(services.sessions, services.settings, welcome_enabled=True)
    result = services.subscriptions.subscribe("new@example.net")
    with services.sessions() as session:
        subscriber = session.get(Subscriber, result.subscriber_id)
        assert subscriber is not None
        email_address = subscriber.email
    services.subscriptions.confirm(result.subscriber_id, email_address)  # sends the welcome
    preferences = Preferences(services.sessions, services.settings, services.backend, services.links,
                              services.suppression)
    preferences.request_email_change(result.subscriber_id, "newer@example.net")
    sent = services.backend.sent  # type: ignore[attr-defined]
    assert [m.recipient for m in sent] == ["new@example.net", "new@example.net", "newer@example.net"]
    assert {m.sender for m in sent} == {"bounces@example.org"}


@given(st.binary(min_size=10, max_size=10))
def test_the_table_base32_is_rfc_4648s(mac: bytes) -> None:
    import base64

    from newsletter.mail.signed_addresses import _base32

    assert _base32(mac) == base64.b32encode(mac).decode().lower()
