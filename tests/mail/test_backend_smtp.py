"""SMTPBackend against a real SMTP server on loopback (tests/smtp_server.py), faults included.

Most tests run in three modes: one connection without PIPELINING, one pipelined, and three
pipelined connections sharing the batch (where the server's arrival order is no longer the
batch order, so those tests compare sets). test_backend_smtp_pipelining.py has the rest.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.mail.backends.base import BackendError, OutgoingMessage, SendStatus
from newsletter.mail.backends.smtp import SMTPBackend
from newsletter.config import load_settings
from tests.smtp_server import Fault, SMTPTestServer  # the fixture
from tests.smtp_server import smtp_server as smtp_server
from tests.mail.test_backends import SENDER, make_message

# smtp_pipelining / smtp_connections per mode.
MODES: dict[str, dict[str, object]] = {
    "plain": {"smtp_pipelining": False, "smtp_connections": 1},
    "pipelined": {"smtp_pipelining": True, "smtp_connections": 1},
    "pipelined-3": {"smtp_pipelining": True, "smtp_connections": 3},
}
ONE_CONNECTION = ["plain", "pipelined"]

# The status each reply code must give (Mailman 3's rule, 552 "mailbox full" is temporary).
EXPECTED = {
    421: SendStatus.DEFERRED,
    451: SendStatus.DEFERRED,
    452: SendStatus.DEFERRED,
    550: SendStatus.BOUNCED,
    552: SendStatus.DEFERRED,
    554: SendStatus.BOUNCED,
}


def make_backend(
    tmp_path: Path, host: str, port: int, ssl_context: ssl.SSLContext | None = None, /, **overrides: object
) -> SMTPBackend:
    values: dict[str, object] = {"smtp_tls": "none", "smtp_timeout": 1.0, "smtp_connections": 1}
    values.update(overrides)
    settings = load_settings(
        data_dir=tmp_path / "var", secret_key="x", admin_password="y", smtp_host=host, smtp_port=port, **values
    )
    return SMTPBackend(settings, ssl_context=ssl_context)


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> dict[str, object]:
    return MODES[request.param]


@pytest.fixture
def backend(tmp_path: Path, smtp_server: SMTPTestServer, mode: dict[str, object]) -> Iterator[SMTPBackend]:
    smtp = make_backend(tmp_path, smtp_server.host, smtp_server.port, **mode)
    yield smtp
    smtp.close()


@pytest.fixture(params=ONE_CONNECTION)
def backend1(tmp_path: Path, smtp_server: SMTPTestServer, request: pytest.FixtureRequest) -> Iterator[SMTPBackend]:
    """For the rules of one connection's life (a batch over several connections is never this strict)."""
    smtp = make_backend(tmp_path, smtp_server.host, smtp_server.port, **MODES[request.param])
    yield smtp
    smtp.close()


def opened(backend: SMTPBackend, batch: int) -> int:
    """Connections a first send() of ``batch`` messages opens: one per connection, at most one each."""
    return min(backend.connections, batch)


def in_order(backend: SMTPBackend, recipients: list[str]) -> list[str]:
    """Server order is batch order only over one connection."""
    return recipients if backend.connections == 1 else sorted(recipients)


def abc() -> list[OutgoingMessage]:
    return [make_message(f"{name}@example.net", n) for n, name in enumerate("abc", start=1)]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there any more


# -- the happy path ----------------------------------------------------------------------------


def test_three_messages_go_over_one_connection_byte_for_byte(backend: SMTPBackend, smtp_server: SMTPTestServer) -> None:
    messages = abc()

    results = backend.send(messages)

    assert [r.status for r in results] == [SendStatus.SENT] * 3
    assert [r.code for r in results] == [250] * 3
    assert smtp_server.connections == opened(backend, 3)
    by_recipient = {received.rcpt_tos[0]: received for received in smtp_server.messages}
    assert len(by_recipient) == len(smtp_server.messages) == 3
    for message in messages:
        received = by_recipient[message.recipient]
        assert received.mail_from == SENDER
        assert received.rcpt_tos == (message.recipient,)
        assert received.data == message.data  # incl. the line starting with a dot


def test_the_connection_is_reused_across_send_calls(backend: SMTPBackend, smtp_server: SMTPTestServer) -> None:
    backend.send(abc())
    backend.send([make_message("d@example.net")])
    assert smtp_server.connections == opened(backend, 3)
    assert len(smtp_server.messages) == 4


def test_nothing_to_send_opens_no_connection(backend: SMTPBackend, smtp_server: SMTPTestServer) -> None:
    assert backend.send([]) == []
    assert smtp_server.connections == 0


def test_close_then_send_reconnects(backend: SMTPBackend, smtp_server: SMTPTestServer) -> None:
    backend.send([make_message("a@example.net")])
    backend.close()
    backend.close()  # twice is harmless
    assert backend.send([make_message("b@example.net")])[0].status is SendStatus.SENT
    assert smtp_server.connections == 2


def test_a_connection_the_server_closed_while_idle_is_replaced(
    backend: SMTPBackend, smtp_server: SMTPTestServer
) -> None:
    backend.send([make_message("a@example.net")])
    smtp_server.close_connections()  # e.g. the server's idle timeout between two batches
    result = backend.send([make_message("b@example.net")])[0]
    assert result.status is SendStatus.SENT
    assert smtp_server.connections == 2


def test_a_non_ascii_address_goes_with_smtputf8(backend: SMTPBackend, smtp_server: SMTPTestServer) -> None:
    result = backend.send([make_message("jörg@example.net")])[0]
    assert result.status is SendStatus.SENT
    assert smtp_server.recipients == ["jörg@example.net"]


def test_a_malformed_address_bounces_alone(backend: SMTPBackend, smtp_server: SMTPTestServer) -> None:
    messages = abc()
    messages[1] = make_message("b@example.net\r\nRCPT TO:<x@evil.test>", 2)
    results = backend.send(messages)
    assert [r.status for r in results] == [SendStatus.SENT, SendStatus.BOUNCED, SendStatus.SENT]
    assert "invalid envelope address" in results[1].reply
    assert in_order(backend, smtp_server.recipients) == ["a@example.net", "c@example.net"]
    assert smtp_server.connections == opened(backend, 3)


# -- per-message faults: the others in the same send() still go --------------------------------


@pytest.mark.parametrize("code", sorted(EXPECTED))
@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_a_refused_message_gets_its_status_and_the_others_are_sent(
    backend: SMTPBackend, smtp_server: SMTPTestServer, stage: str, code: int
) -> None:
    smtp_server.faults["b@example.net"] = Fault(stage=stage, code=code, message=f"injected {code}")  # type: ignore[arg-type]

    results = backend.send(abc())

    assert [r.status for r in results] == [SendStatus.SENT, EXPECTED[code], SendStatus.SENT]
    assert (results[1].code, results[1].reply) == (code, f"injected {code}")
    assert not results[1].possibly_sent
    assert in_order(backend, smtp_server.recipients) == ["a@example.net", "c@example.net"]
    # A 421 closes the connection, so the next message needs a new one.
    if backend.connections == 1:
        assert smtp_server.connections == (2 if code == 421 else 1)


def test_a_refused_sender_defers_instead_of_bouncing_the_reader(backend: SMTPBackend, smtp_server: SMTPTestServer) -> None:
    smtp_server.faults["other@example.org"] = Fault(stage="mail", code=550, message="5.7.1 not yours")
    messages = abc()
    messages[1] = OutgoingMessage("other@example.org", "b@example.net", messages[1].data, "<b@x>")

    results = backend.send(messages)

    # The sender is our configuration, not the reader's fault: retry later, never suppress them.
    assert [r.status for r in results] == [SendStatus.SENT, SendStatus.DEFERRED, SendStatus.SENT]
    assert results[1].code == 550


def test_dropped_after_data_is_deferred_as_possibly_sent(backend: SMTPBackend, smtp_server: SMTPTestServer) -> None:
    smtp_server.faults["b@example.net"] = Fault(stage="data", drop=True)

    results = backend.send(abc())

    assert [r.status for r in results] == [SendStatus.SENT, SendStatus.DEFERRED, SendStatus.SENT]
    assert results[1].code is None
    assert results[1].possibly_sent
    assert "lost during DATA" in results[1].reply
    assert in_order(backend, smtp_server.recipients) == ["a@example.net", "c@example.net"]
    if backend.connections == 1:
        assert smtp_server.connections == 2


def test_dropped_at_rcpt_is_deferred_and_not_possibly_sent(backend: SMTPBackend, smtp_server: SMTPTestServer) -> None:
    smtp_server.faults["b@example.net"] = Fault(stage="rcpt", drop=True)

    results = backend.send(abc())

    assert [r.status for r in results] == [SendStatus.SENT, SendStatus.DEFERRED, SendStatus.SENT]
    assert not results[1].possibly_sent


@pytest.mark.parametrize(("stage", "possibly_sent"), [("rcpt", False), ("data", True)])
def test_a_server_hanging_past_the_timeout_defers_that_message(
    backend: SMTPBackend, smtp_server: SMTPTestServer, stage: str, possibly_sent: bool
) -> None:
    smtp_server.faults["b@example.net"] = Fault(stage=stage, hang=True)  # type: ignore[arg-type]
    started = time.monotonic()

    results = backend.send(abc())

    assert time.monotonic() - started < 5  # smtp_timeout is 1 s
    assert [r.status for r in results] == [SendStatus.SENT, SendStatus.DEFERRED, SendStatus.SENT]
    assert results[1].possibly_sent is possibly_sent
    assert "timed out" in results[1].reply


def test_when_reconnecting_fails_the_rest_are_deferred_unattempted(
    backend: SMTPBackend, smtp_server: SMTPTestServer
) -> None:
    smtp_server.max_connections = 1
    smtp_server.faults["b@example.net"] = Fault(stage="rcpt", code=421, message="4.3.2 shutting down")

    results = backend.send([*abc(), make_message("d@example.net", 4)])

    assert [r.status for r in results] == [SendStatus.SENT] + [SendStatus.DEFERRED] * 3
    assert results[1].code == 421
    for unattempted in results[2:]:
        assert unattempted.code is None and not unattempted.possibly_sent
        assert "reconnecting failed" in unattempted.reply and "421" in unattempted.reply
    assert smtp_server.recipients == ["a@example.net"]


def test_two_lost_connections_in_a_row_stop_the_batch(backend1: SMTPBackend, smtp_server: SMTPTestServer) -> None:
    smtp_server.faults["b@example.net"] = Fault(stage="rcpt", drop=True)
    smtp_server.faults["c@example.net"] = Fault(stage="rcpt", drop=True)

    results = backend1.send([*abc(), make_message("d@example.net", 4)])

    assert [r.status for r in results] == [SendStatus.SENT] + [SendStatus.DEFERRED] * 3
    assert "lost 2 times in a row" in results[3].reply
    assert smtp_server.connections == 2


# -- the backend can't send at all: BackendError -----------------------------------------------


def test_connection_refused_is_a_backend_error(tmp_path: Path, mode: dict[str, object]) -> None:
    port = closed_port()
    backend = make_backend(tmp_path, "127.0.0.1", port, **mode)
    with pytest.raises(BackendError, match=f"127.0.0.1:{port}.*refused") as info:
        backend.send(abc())
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_a_server_that_never_greets_is_a_backend_error_within_the_timeout(
    backend: SMTPBackend, smtp_server: SMTPTestServer
) -> None:
    smtp_server.hang_greeting = True
    started = time.monotonic()
    with pytest.raises(BackendError, match="timed out"):
        backend.send(abc())
    assert time.monotonic() - started < 5


def test_login_with_the_right_password(tmp_path: Path, smtp_server: SMTPTestServer, mode: dict[str, object]) -> None:
    smtp_server.require_auth("mailer", "s3cret")
    backend = make_backend(
        tmp_path, smtp_server.host, smtp_server.port, smtp_user="mailer", smtp_password="s3cret", **mode
    )

    results = backend.send(abc())
    backend.close()

    assert [r.status for r in results] == [SendStatus.SENT] * 3
    assert [m.login for m in smtp_server.messages] == ["mailer"] * 3


def test_a_refused_login_is_a_backend_error(tmp_path: Path, smtp_server: SMTPTestServer, mode: dict[str, object]) -> None:
    smtp_server.require_auth("mailer", "s3cret")
    backend = make_backend(
        tmp_path, smtp_server.host, smtp_server.port, smtp_user="mailer", smtp_password="wrong", **mode
    )
    with pytest.raises(BackendError, match=f"{smtp_server.port}: 535"):
        backend.send(abc())
    assert smtp_server.messages == []


# -- TLS ---------------------------------------------------------------------------------------


def test_starttls_with_a_trusted_certificate(tmp_path: Path, smtp_server: SMTPTestServer, mode: dict[str, object]) -> None:
    certificate = smtp_server.enable_starttls(required=True)
    trusting = ssl.create_default_context(cafile=str(certificate))
    backend = make_backend(tmp_path, smtp_server.host, smtp_server.port, trusting, smtp_tls="starttls", **mode)

    results = backend.send(abc())
    backend.close()

    assert [r.status for r in results] == [SendStatus.SENT] * 3
    assert all(m.tls for m in smtp_server.messages)


def test_starttls_verifies_the_certificate_by_default(
    tmp_path: Path, smtp_server: SMTPTestServer, mode: dict[str, object]
) -> None:
    smtp_server.enable_starttls()
    backend = make_backend(tmp_path, smtp_server.host, smtp_server.port, smtp_tls="starttls", **mode)
    with pytest.raises(BackendError, match="CERTIFICATE_VERIFY_FAILED") as info:
        backend.send(abc())
    assert isinstance(info.value.__cause__, ssl.SSLError)


def test_starttls_is_required_when_configured(tmp_path: Path, smtp_server: SMTPTestServer) -> None:
    plain_server = make_backend(tmp_path, smtp_server.host, smtp_server.port, smtp_tls="starttls")
    with pytest.raises(BackendError, match="does not offer STARTTLS"):
        plain_server.send(abc())


def test_implicit_tls(tmp_path: Path, mode: dict[str, object]) -> None:
    with SMTPTestServer(implicit_tls=True, workdir=tmp_path) as server:
        assert server.certificate is not None
        trusting = ssl.create_default_context(cafile=str(server.certificate))
        backend = make_backend(tmp_path, server.host, server.port, trusting, smtp_tls="ssl", **mode)
        results = backend.send(abc())
        backend.close()
        assert [r.status for r in results] == [SendStatus.SENT] * 3
        assert all(m.tls for m in server.messages)
        assert server.connections == opened(backend, 3)
