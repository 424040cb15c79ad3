"""A real SMTP server on loopback for tests (aiosmtpd), recording messages and injecting faults.

Faults are scripted per address in ``server.faults``: a recipient's fault fires at RCPT or at the
end of DATA, a sender's at MAIL. Settings such as ``require_auth``/``enable_starttls`` apply from
the next connection, because aiosmtpd builds one SMTP protocol object per connection.

PIPELINING (RFC 2920) is advertised unless ``pipelining`` is off: aiosmtpd reads commands one by
one from its stream, so pipelined commands just work. ``pipelined_replies`` counts the replies
written while the client's next input was already waiting unread, which a client that waits for
every reply never causes: the checkable sign that a client really pipelines.

conftest.py can ``from tests.smtp_server import smtp_server`` to share the fixture.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Fault:
    """What the server does instead of accepting, at one stage of one address's transaction.

    ``code``/``message``: the reply (a 421 reply also closes the connection, as RFC 5321 says).
    ``drop``: close the connection without replying (at "data": after the whole message arrived).
    ``hang``: don't reply until the client gives up (sleeps ``server.hang_seconds``).
    """

    stage: Literal["mail", "rcpt", "data"]
    code: int = 451
    message: str = "4.3.0 injected fault"
    drop: bool = False
    hang: bool = False


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls: bool
    login: str | None


@dataclass
class SMTPTestServer:
    """Start with ``start()`` (or use as a context manager); ``host``/``port`` are then set."""

    implicit_tls: bool = False  # TLS from the first byte (for smtp_tls="ssl"); needs openssl
    workdir: Path | None = None  # where certificates go; a temporary dir by default
    host: str = HOST
    port: int = 0
    messages: list[Received] = field(default_factory=list)
    faults: dict[str, Fault] = field(default_factory=dict)
    connections: int = 0  # SMTP connections accepted since start()
    hang_seconds: float = 30.0
    hang_greeting: bool = False  # accept connections but never send the 220 banner
    max_connections: int | None = None  # later connections get "421 too many connections"
    pipelining: bool = True  # advertise PIPELINING in the EHLO reply
    pipelined_replies: int = 0  # replies written while more client input was already buffered
    certificate: Path | None = None  # the self-signed certificate, once TLS is on
    crash_after: int | None = None  # crash() right after accepting this many messages in all
    crashed: bool = False  # since crash(), until restart()
    _credentials: tuple[str, str] | None = None
    _starttls: ssl.SSLContext | None = None
    _require_starttls: bool = False
    _controller: Controller | None = None
    _live: set[SMTP] = field(default_factory=set)
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SMTPTestServer:
        listener_tls = self._server_context() if self.implicit_tls else None
        for attempt in range(5):
            # Controller can't bind port 0 (it must know the port), so pick a free one; another
            # process could grab it in between, hence the retry.
            self.port = _free_port(self.host)
            controller = _Controller(self, hostname=self.host, port=self.port, ssl_context=listener_tls)
            try:
                controller.start()
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or attempt == 4:
                    raise
                continue
            self._controller = controller
            break
        self.connections = 0  # Controller.start() makes one probe connection of its own
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self.close_connections()  # else the stopped loop leaves transports unclosed (ResourceWarning)
            self._controller.stop()
            self._controller = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def crash(self) -> None:
        """Die as a relay whose process is killed: every connection closed, the port closed (new
        connections refused), and a message arriving meanwhile is not queued. restart() revives it."""
        assert self._controller is not None
        self._controller.loop.call_soon_threadsafe(self._crash_now)

    def restart(self) -> SMTPTestServer:
        """Listen again on the same port after crash() or stop(); what it received is kept."""
        if self._controller is not None:
            self._controller.stop()  # the crashed server's loop is still running
            self._controller = None
        listener_tls = self._server_context() if self.implicit_tls else None
        controller = _Controller(self, hostname=self.host, port=self.port, ssl_context=listener_tls)
        controller.start()
        self._controller = controller
        self.connections -= 1  # Controller.start()'s own probe connection
        self.crashed = False
        return self

    def _crash_now(self) -> None:
        """On the server's loop: nothing is queued from here on, no connection survives."""
        self.crashed = True
        assert self._controller is not None and self._controller.server is not None
        self._controller.server.close()
        for protocol in list(self._live):
            if protocol.transport is not None:
                protocol.transport.close()

    def __enter__(self) -> SMTPTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------------

    def require_auth(self, user: str, password: str) -> None:
        """From the next connection: AUTH PLAIN/LOGIN offered (also without TLS) and required."""
        self._credentials = (user, password)

    def enable_starttls(self, *, required: bool = False) -> Path:
        """From the next connection: offer STARTTLS (``required``: refuse mail without it).

        Returns the self-signed certificate, for a client context that trusts it.
        """
        self._starttls = self._server_context()
        self._require_starttls = required
        assert self.certificate is not None
        return self.certificate

    def close_connections(self, timeout: float = 5.0) -> None:
        """Close every open client connection from the server side (like an idle timeout)."""
        assert self._controller is not None

        async def close_all() -> None:
            for protocol in list(self._live):
                if protocol.transport is not None:
                    protocol.transport.close()
            deadline = time.monotonic() + timeout
            while self._live and time.monotonic() < deadline:
                await asyncio.sleep(0.01)

        asyncio.run_coroutine_threadsafe(close_all(), self._controller.loop).result(timeout + 1)

    @property
    def open_connections(self) -> int:
        """Client connections open right now."""
        return len(self._live)

    @property
    def recipients(self) -> list[str]:
        """Every accepted recipient, in order."""
        return [rcpt for message in self.messages for rcpt in message.rcpt_tos]

    # -- internals ---------------------------------------------------------------------------

    def _new_protocol(self) -> SMTP:
        """Called by the controller once per accepted connection."""
        self.connections += 1
        refuse = self.max_connections is not None and self.connections > self.max_connections
        kwargs: dict[str, Any] = {
            "hostname": "smtp.test",
            "enable_SMTPUTF8": True,
            "auth_require_tls": False,  # tests log in over plain loopback too
            "authenticator": self._authenticate,
        }
        if self._starttls is not None:
            kwargs["tls_context"] = self._starttls
            kwargs["require_starttls"] = self._require_starttls
        return _ScriptedSMTP(_Handler(self), owner=self, refuse=refuse, **kwargs)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if self._credentials is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = self._credentials
        ok = auth_data.login == user.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def _server_context(self) -> ssl.SSLContext:
        if self.certificate is None:
            self.certificate = self._make_certificate()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, self.certificate.with_suffix(".key"))
        return context

    def _make_certificate(self) -> Path:
        """A self-signed certificate for localhost/127.0.0.1, made with the openssl CLI."""
        if shutil.which("openssl") is None:
            pytest.skip("the openssl command is needed for the TLS test server")
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="smtp-test-")
            self.workdir = Path(self._tmp.name)
        cert, key = self.workdir / "server.pem", self.workdir / "server.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        return cert


class _Controller(Controller):
    def __init__(self, owner: SMTPTestServer, **kwargs: Any) -> None:
        super().__init__(None, **kwargs)
        self._owner = owner

    def factory(self) -> SMTP:
        return self._owner._new_protocol()


class _ScriptedSMTP(SMTP):
    """aiosmtpd's SMTP plus what the hooks can't do: a silent or refusing greeting."""

    def __init__(self, handler: _Handler, *, owner: SMTPTestServer, refuse: bool, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._owner = owner
        self._refuse = refuse

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._owner._live.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self._owner._live.discard(self)
        super().connection_lost(error)

    async def push(self, status: Any) -> None:
        # aiosmtpd's StreamReader keeps what arrived but wasn't read yet in ``_buffer``.
        if getattr(getattr(self, "_reader", None), "_buffer", None):
            self._owner.pipelined_replies += 1
        await super().push(status)

    async def _handle_client(self) -> None:
        if self._owner.hang_greeting:
            await asyncio.sleep(self._owner.hang_seconds)  # cancelled when the client hangs up
        if self._refuse:
            await self.push("421 4.7.0 smtp.test too many connections, try later")
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()


class _Handler:
    """aiosmtpd hooks. A hook that returns a status must do the bookkeeping aiosmtpd would skip."""

    def __init__(self, owner: SMTPTestServer) -> None:
        self._owner = owner

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # this (5-argument) hook takes over what aiosmtpd would do
        if self._owner.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")  # before the closing "250 HELP"
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._owner._credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        fault = self._fault("mail", address)
        if fault is not None:
            return await self._inject(server, fault)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self._fault("rcpt", address)
        if fault is not None:
            return await self._inject(server, fault)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        for address in envelope.rcpt_tos:
            fault = self._fault("data", address)
            if fault is not None:
                return await self._inject(server, fault)
        if self._owner.crashed:
            await asyncio.Event().wait()  # a dead relay queues nothing and never answers
        assert envelope.mail_from is not None and isinstance(envelope.original_content, bytes)
        transport = server.transport
        auth = session.auth_data  # what _authenticate put there (login_data is deprecated)
        self._owner.messages.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=envelope.original_content,
                tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
                login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
            )
        )
        if len(self._owner.messages) == self._owner.crash_after:
            self._owner.crashed = True  # from this reply on; the connections close once it is written
            asyncio.get_running_loop().call_soon(self._owner._crash_now)
        return f"250 2.0.0 OK queued as {len(self._owner.messages)}"

    def _fault(self, stage: str, address: str) -> Fault | None:
        fault = self._owner.faults.get(address)
        return fault if fault is not None and fault.stage == stage else None

    async def _inject(self, server: SMTP, fault: Fault) -> str:
        if fault.hang:
            await asyncio.sleep(self._owner.hang_seconds)  # cancelled when the client hangs up
            return "451 4.4.2 timed out"
        assert server.transport is not None
        if fault.drop:
            server.transport.close()
            await asyncio.Event().wait()  # connection_lost() cancels us; never reply
        if fault.code == 421:
            # Close right after the reply is written (push() writes before this callback runs).
            asyncio.get_running_loop().call_soon(server.transport.close)
        return f"{fault.code} {fault.message}"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SMTPTestServer]:
    """A started loopback SMTP server: plain, no auth, no faults, until the test says otherwise."""
    server = SMTPTestServer(workdir=tmp_path_factory.mktemp("smtp"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
