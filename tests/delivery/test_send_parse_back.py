"""Every message of a real send, as the SMTP server received it, parsed back as a mail client would.

1,000 readers with awkward names (non-ASCII, quotes, commas, a CR/LF header-injection attempt,
HTML, encoded-word look-alikes, empty, over-long) get an issue through the real SMTP test
server; each received message is parsed with the standard library's modern email parser and
checked for what the reader and their mail provider see.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.dispatch import Worker
from newsletter.mail.message import make_message_id
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from aiosmtpd.smtp import SMTP

from tests.smtp_server import SMTPTestServer
from tests.workers import delivery_states, reader_message_id, rendered_issue
from tests.factories import subscribed

READERS = 1_000
NAMES = [
    "Zoë Ŝmith",
    'Pat "The Hat" O\'Brien',
    "Smith, John",
    "Eve\r\nBcc: victim@evil.example",
    "Mallory\nTo: everyone@evil.example\r\n\r\nInjected body",
    "",
    "Ana",
    "=?utf-8?q?Encoded=20Mallory?=",
    "李小龍",
    "🎉 Party Person",
    "<script>alert('x')</script> & Co",
    "Robert'); DROP TABLE subscriber;--",
    "   spaced \t  out   ",
    "Back\\slash (comment) <angle>",
    "مرحبا بالعالم",
    "Line\u2028Separator\x85Next",
    "Zoë " * 50,  # 200 characters, 250 octets of UTF-8
    "A" * 200,
]
# The last is an internationalised domain, stored (as the app normalises it) in its Unicode form.
ADDRESS_FORMS = ["reader{i}@example.net", "first.last+tag{i}@example.net", "o'neil-{i}@mail.example.org",
                 "anna{i}@bücher.example"]
# What a reader's name must look like wherever it is shown: control characters (CR, LF, NEL, line
# separators) turned into spaces, whitespace collapsed, at most 200 characters.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
HEADERS = ["from", "subject", "list-id", "list-unsubscribe-post", "to", "date", "message-id", "list-unsubscribe",
           "mime-version", "content-type"]


def ascii_form(address: str) -> str:
    """The same mailbox with its domain spelled in ASCII (IDNA), as it must be without SMTPUTF8."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def shown(name: str) -> str:
    return " ".join(_CONTROLS.sub(" ", name).split())[:200].strip()


def add_readers(sessions: sessionmaker[Session]) -> dict[int, tuple[str, str]]:
    """Readers stored as they are (not cleaned on the way in), so the message itself must be safe."""
    with sessions.begin() as session:
        rows = [
            Subscriber(email=ADDRESS_FORMS[i % len(ADDRESS_FORMS)].format(i=i), name=NAMES[i % len(NAMES)],
                       status=SubscriberStatus.ACTIVE, source="test")
            for i in range(READERS)
        ]
        session.add_all(rows)
        subscribed(session, *rows)
        return {row.id: (row.email, row.name) for row in rows}


@pytest.fixture
def smtp_services(settings: Settings, smtp_server: SMTPTestServer) -> Iterator[Services]:
    services = Services.build(settings.model_copy(update={
        "backend": "smtp", "smtp_host": smtp_server.host, "smtp_port": smtp_server.port, "smtp_tls": "none",
        "smtp_timeout": 10.0, "batch_size": 200,
    }))
    yield services
    services.close()


def test_every_message_parses_back_to_the_right_reader(smtp_services: Services, smtp_server: SMTPTestServer) -> None:
    services = smtp_services
    readers = add_readers(services.sessions)
    issue = rendered_issue(services)
    assert services.publisher.queue(issue).queued == READERS
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    assert delivery_states(services.sessions, issue) == {"sent": READERS}

    by_message_id = {make_message_id(issue, sid, services.settings.mail_domain): sid for sid in readers}
    seen: set[int] = set()
    assert len(smtp_server.messages) == READERS
    for received in smtp_server.messages:
        data = received.data
        # Every line ends CRLF (no bare CR or LF) and is at most 998 octets (RFC 5322 2.1.1).
        assert data.endswith(b"\r\n")
        assert b"\r" not in data.replace(b"\r\n", b"") and b"\n" not in data.replace(b"\r\n", b"")
        assert max(len(line) for line in data.split(b"\r\n")) <= 998

        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        assert not message.defects, message.defects
        # Exactly the headers the engine writes, once each: nothing injected (no Bcc, no second To).
        assert sorted(key.lower() for key in message.keys()) == sorted(HEADERS), message.keys()

        subscriber = by_message_id.get(reader_message_id(message["Message-ID"]))
        assert subscriber is not None, f"unknown Message-ID {message['Message-ID']}"
        assert subscriber not in seen, f"reader {subscriber} got two messages"
        seen.add(subscriber)
        address, name = readers[subscriber]
        context = f"reader {subscriber} {name!r}"

        assert [ascii_form(rcpt) for rcpt in received.rcpt_tos] == [ascii_form(address)], context
        [to] = message["To"].addresses
        assert ascii_form(to.addr_spec) == ascii_form(received.rcpt_tos[0]), context
        assert to.display_name == shown(name), context
        assert message["From"].addresses[0].addr_spec == services.settings.sender_email

        unsubscribe = services.links.unsubscribe(subscriber)
        assert f"<{unsubscribe}>" in message["List-Unsubscribe"], context
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

        greeting = f"Hi {shown(name)}," if shown(name) else "Hello,"
        text_part, html_part = message.get_body(("plain",)), message.get_body(("html",))
        assert text_part is not None and html_part is not None, context
        text, markup = text_part.get_content(), html_part.get_content()
        assert greeting in text and unsubscribe in text, context
        assert greeting in html.unescape(markup) and unsubscribe in html.unescape(markup), context
        assert "<script>" not in markup, context

    assert seen == set(readers)


class RelayWithoutSMTPUTF8(SMTPTestServer):
    """The test server, but it does not offer SMTPUTF8 (like many relays and sending services)."""

    def _new_protocol(self) -> SMTP:
        protocol = super()._new_protocol()
        protocol.enable_SMTPUTF8 = False
        return protocol


def test_a_reader_at_an_internationalised_domain_gets_the_issue_through_a_relay_without_smtputf8(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The domain has an ASCII spelling (xn--...), so no SMTPUTF8 is needed to reach the reader;
    refusing instead would bounce the reader and suppress them from every later issue."""
    with RelayWithoutSMTPUTF8(workdir=tmp_path_factory.mktemp("relay")) as relay:
        services = Services.build(settings.model_copy(update={
            "backend": "smtp", "smtp_host": relay.host, "smtp_port": relay.port, "smtp_tls": "none",
        }))
        try:
            reader, _ = services.subscriptions.add("Anna@Bücher.Example", "Anna")
            issue = rendered_issue(services)
            services.publisher.queue(issue)
            Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
            with services.sessions() as session:
                stored = session.get(Subscriber, reader.id)
                assert stored is not None
                reader_status = stored.status
            states = delivery_states(services.sessions, issue)
        finally:
            services.close()
        assert [m.rcpt_tos for m in relay.messages] == [("anna@xn--bcher-kva.example",)], states
        assert states == {"sent": 1} and reader_status is SubscriberStatus.ACTIVE
