"""A private, real Postfix instance for tests, and an inbound server whose messages a test can wait for.

``postfix_mta`` (session scope: one instance per pytest process, so one per xdist worker) runs
Debian's Postfix from its own temporary directory: its own ``main.cf``/``master.cf``, queue and
data directories and mail log, its smtpd on a free port of 127.0.0.1. Nothing under /etc/postfix
is read for the configuration or changed, and the system instance need not run.

- Mail for ``LOCAL_DOMAIN`` (``localhost.test``) is delivered by local(8); there is no such user
  as ``nobody-here`` and ``local_recipient_maps`` is empty, so smtpd accepts the address and the
  local delivery bounces it: Postfix writes a real DSN (5.1.1) to the envelope sender.
- Mail for ``LIST_DOMAIN`` (``example.org``, the domain of the ``settings`` fixture's
  From address) goes by ``transport_maps`` to ``smtp:[127.0.0.1]:<mta.inbound_port>``: start the
  inbound server there (``recording_inbound(services, mta)``) and the bounce arrives at it.

Use from a test module::

    from tests.postfix_mta import postfix_mta, recording_inbound  # noqa: F401  (fixture)

    def test_x(services, postfix_mta):
        with recording_inbound(services, postfix_mta) as inbound:
            postfix_mta.send("bounces@example.org", ["nobody-here@localhost.test"], data)
            got = inbound.wait_for(lambda m: b"<my-id@example.org>" in m.data)

The queue is shared by the tests of one process: a message deferred while no inbound server
listened is delivered to the next one, so wait for *your* message (match a unique Message-ID).
Skipped when /usr/sbin/postfix is missing (``make test`` installs Debian's postfix) or when not
run as root (``postfix start`` needs root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from newsletter.inbound.handler import InboundHandler
from newsletter.inbound.smtp_server import make_controller
from newsletter.services import Services

POSTFIX = "/usr/sbin/postfix"
HOST = "127.0.0.1"
LOCAL_DOMAIN = "localhost.test"
LIST_DOMAIN = "example.org"
MTA_HOSTNAME = f"mta.{LOCAL_DOMAIN}"
UNKNOWN_LOCAL_USER = f"nobody-here@{LOCAL_DOMAIN}"

# Every service a queue run needs, nothing chrooted (the chroot would need a copy of /etc files
# in the temp dir), the smtpd on our port only. Same columns as Debian's master.cf.
_MASTER_CF = """\
{host}:{port} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# Self-contained: every parameter whose default comes from the host (its hostname, /etc/mailname
# through Debian's main.cf, /etc/aliases, DNS, the system instance's relay or rewriting) is set
# here, so the instance behaves the same on any machine.
_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
myhostname = {hostname}
mydomain = {local_domain}
myorigin = $myhostname
mydestination = {local_domain}
# Accept any local part at RCPT; local(8) bounces the unknown user with a real DSN.
local_recipient_maps =
alias_maps =
alias_database =
luser_relay =
mailbox_command =
mailbox_transport =
fallback_transport =
recipient_delimiter =
relayhost =
relay_domains =
relay_transport = relay
default_transport = smtp
virtual_alias_domains =
virtual_alias_maps =
canonical_maps =
sender_canonical_maps =
recipient_canonical_maps =
sender_dependent_relayhost_maps =
append_dot_mydomain = no
soft_bounce = no
inet_interfaces = {host}
proxy_interfaces =
inet_protocols = ipv4
mynetworks_style = host
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions =
smtpd_peername_lookup = no
smtpd_tls_security_level = none
transport_maps = texthash:{root}/conf/transport
smtp_tls_security_level = none
smtp_host_lookup = native
smtp_dns_support_level = disabled
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
biff = no
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class PostfixMta:
    """A running private Postfix: send through ``host``/``port``; mail for ``list_domain`` is relayed
    to ``host``/``inbound_port``."""

    root: Path
    port: int
    inbound_port: int
    host: str = HOST
    list_domain: str = LIST_DOMAIN
    local_domain: str = LOCAL_DOMAIN

    @property
    def config_dir(self) -> Path:
        return self.root / "conf"

    @property
    def maillog(self) -> Path:
        return self.root / "maillog"

    def log(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return "(no mail log)"

    def postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``postfix -c <our config> ARGS`` (start, stop, abort, flush, ...)."""
        return subprocess.run(
            [POSTFIX, "-c", str(self.config_dir), *args], capture_output=True, text=True, timeout=60, check=check
        )

    def send(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> None:
        """Hand a message to the instance's smtpd (raises smtplib errors if refused)."""
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.sendmail(mail_from, rcpt_tos, data)

    def flush(self) -> None:
        """Ask for a queue run now (deferred mail is retried at once)."""
        self.postfix("flush", check=False)

    def master_pid(self) -> int | None:
        try:
            return int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None


def _write_config(root: Path, port: int, inbound_port: int, list_domain: str, local_domain: str) -> None:
    conf = root / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (root / "queue").mkdir(exist_ok=True)  # post-install (run by `postfix start`) makes the rest
    (conf / "main.cf").write_text(
        _MAIN_CF.format(root=root, hostname=MTA_HOSTNAME, local_domain=local_domain, host=HOST)
    )
    (conf / "master.cf").write_text(_MASTER_CF.format(host=HOST, port=port))
    (conf / "transport").write_text(f"{list_domain} smtp:[{HOST}]:{inbound_port}\n")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _stop(mta: PostfixMta) -> None:
    """`postfix stop`; if the master outlives it, `postfix abort`; then SIGKILL what is left of ours."""
    pid = mta.master_pid()
    mta.postfix("stop", check=False)
    deadline = time.monotonic() + 10
    while pid is not None and _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid is not None and _pid_alive(pid):
        mta.postfix("abort", check=False)
        time.sleep(0.5)
    if pid is not None and _pid_alive(pid):
        for child in _children(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running_postfix(list_domain: str = LIST_DOMAIN, local_domain: str = LOCAL_DOMAIN) -> Iterator[PostfixMta]:
    """Start a private Postfix (new temp dir, free ports), yield it, stop it and remove the dir."""
    # /tmp itself, not pytest's 0700 tmp_path: the postfix user must be able to reach the queue.
    root = Path(tempfile.mkdtemp(prefix="pfx-", dir="/tmp"))
    root.chmod(0o755)
    mta: PostfixMta | None = None
    try:
        errors = []
        for _ in range(3):  # a port taken between free_port() and master's bind: pick others
            candidate = PostfixMta(
                root=root,
                port=free_port(),
                inbound_port=free_port(),
                list_domain=list_domain,
                local_domain=local_domain,
            )
            _write_config(root, candidate.port, candidate.inbound_port, list_domain, local_domain)
            started = candidate.postfix("start", check=False)
            if started.returncode == 0 and _accepts_connections(candidate):
                mta = candidate
                break
            errors.append(
                f"postfix start: rc {started.returncode}\n{started.stdout}{started.stderr}\n{candidate.log()}"
            )
            _stop(candidate)
        if mta is None:
            raise RuntimeError("the private Postfix did not start:\n" + "\n".join(errors))
        yield mta
    finally:
        if mta is not None:
            _stop(mta)
        shutil.rmtree(root, ignore_errors=True)


def _accepts_connections(mta: PostfixMta, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((mta.host, mta.port), timeout=2) as sock:
                if sock.recv(64).startswith(b"220"):
                    sock.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def postfix_mta() -> Iterator[PostfixMta]:
    if not os.path.exists(POSTFIX):
        pytest.skip(f"{POSTFIX} is missing: install Debian's postfix (make test does) to run a real MTA")
    if os.geteuid() != 0:
        pytest.skip("starting a private Postfix instance (postfix -c DIR start) needs root")
    with running_postfix() as mta:
        yield mta


@dataclass(frozen=True)
class InboundMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    lines: tuple[str, ...]  # what InboundHandler.handle said it did


@dataclass
class RecordingInbound:
    """The inbound server's handler, recording every message it handled."""

    mta: PostfixMta | None = None
    messages: list[InboundMessage] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def record(self, message: InboundMessage) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def wait_for(
        self, match: Callable[[InboundMessage], bool] = lambda _m: True, timeout: float = 30
    ) -> InboundMessage:
        """The first handled message that matches, waiting up to `timeout` s; fails with the mail log."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self.messages:
                    if match(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(min(left, 1.0))
        got = [(m.mail_from, m.rcpt_tos, m.lines) for m in self.messages]
        log = self.mta.log() if self.mta is not None else ""
        pytest.fail(f"no matching message reached the inbound server in {timeout} s; got {got}\nmail log:\n{log}")


class _RecordingHandler(InboundHandler):
    def __init__(self, services: Services, recorder: RecordingInbound) -> None:
        super().__init__(services)
        self._recorder = recorder

    def handle(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> list[str]:
        lines = super().handle(mail_from, rcpt_tos, data)
        self._recorder.record(InboundMessage(mail_from, tuple(rcpt_tos), data, tuple(lines)))
        return lines


@contextlib.contextmanager
def recording_inbound(services: Services, mta: PostfixMta) -> Iterator[RecordingInbound]:
    """`newsletter inbound`'s server (make_controller + InboundHandler) on ``mta.inbound_port``."""
    recorder = RecordingInbound(mta=mta)
    controller = make_controller(_RecordingHandler(services, recorder), mta.host, mta.inbound_port)
    controller.start()
    try:
        mta.flush()  # anything deferred while nobody listened is retried now, not after the back-off
        yield recorder
    finally:
        controller.stop()
