"""Opening one SMTP session: connect, greeting, EHLO, STARTTLS or implicit TLS, AUTH (on smtplib).

Every failure here is a BackendError: the session never got as far as a MAIL command.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from newsletter.mail.backends.base import BackendError
from newsletter.mail.backends.smtp_wire import describe


@dataclass(frozen=True, slots=True)
class SessionOptions:
    host: str
    port: int
    tls: Literal["none", "starttls", "ssl"]
    connect_timeout: float
    timeout: float
    user: str
    password: str

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class _Client(smtplib.SMTP):
    """smtplib with a separate connect timeout, and TLS from the first byte when asked."""

    def __init__(self, options: SessionOptions, implicit_tls: ssl.SSLContext | None) -> None:
        self._connect_timeout = options.connect_timeout
        self._implicit_tls = implicit_tls
        # No host: __init__ would connect with one timeout for connect and commands alike.
        super().__init__(timeout=options.timeout)
        self._host = options.host  # what starttls() verifies the certificate against; __init__ sets it only with a host

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((host, port), self._connect_timeout, self.source_address)
        sock.settimeout(timeout)  # the greeting and every later reply wait at most smtp_timeout
        if self._implicit_tls is None:
            return sock
        try:
            return self._implicit_tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verified TLS: the system CAs, or only the bundle in ``smtp_ca_file`` when it is set."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    except OSError as exc:  # FileNotFoundError, or ssl.SSLError for a file that isn't PEM
        raise BackendError(f"cannot load the SMTP CA file {ca_file}: {describe(exc)}") from exc


def open_session(options: SessionOptions, context: ssl.SSLContext | None) -> smtplib.SMTP:
    """A greeted, EHLO'd (after STARTTLS), logged-in smtplib client; its socket is ours from here."""
    if context is None and options.tls != "none":
        context = tls_context(None)  # never smtplib's default, which doesn't verify the certificate
    client = _Client(options, context if options.tls == "ssl" else None)
    try:
        code, reply = client.connect(options.host, options.port)
        if code != 220:  # e.g. "421 too many connections"
            raise smtplib.SMTPConnectError(code, reply)
    except (smtplib.SMTPException, OSError) as exc:
        client.close()
        raise BackendError(f"cannot connect to SMTP server {options.address}: {_describe(exc)}") from exc
    try:
        client.ehlo_or_helo_if_needed()
        if options.tls == "starttls":
            if not client.has_extn("starttls"):
                raise BackendError(
                    f"SMTP server {options.address} does not offer STARTTLS (smtp_tls=starttls requires it)"
                )
            client.starttls(context=context)
            client.ehlo()
        if options.user:
            client.login(options.user, options.password)
    except BackendError:
        client.close()
        raise
    except (smtplib.SMTPException, OSError) as exc:
        client.close()
        raise BackendError(f"cannot start an SMTP session with {options.address}: {_describe(exc)}") from exc
    return client


def _describe(exc: BaseException) -> str:
    """The server's reply for SMTP errors, else the OS/TLS error text."""
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {text}"
    return describe(exc)
