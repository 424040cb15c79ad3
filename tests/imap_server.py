"""A real IMAP server for the tests: a private Debian dovecot on loopback, one per test.

Everything lives in its own directory under /tmp (not pytest's tmp_path: dovecot's unix sockets
need a short path, and its unprivileged processes must be able to traverse to the mail), on
free ports, so pytest-xdist workers never share anything. STARTTLS and imaps use a self-signed
certificate for 127.0.0.1 made with openssl; clients trust it through SSL_CERT_FILE.
"""

from __future__ import annotations

import imaplib
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

DOVECOT = Path("/usr/sbin/dovecot")
USER = "newsletter"
PASSWORD = "p@ss/w rd"  # needs percent-encoding in a URL, which is the point

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = test-{port}
log_path = {dir}/dovecot.log
# We run as root: dovecot's own users do the unprivileged work, and the mail belongs to `dovecot`.
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
mail_uid = dovecot
mail_gid = dovecot
first_valid_uid = 1
mail_location = maildir:{dir}/mail
ssl = yes
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain
# A wrong password is answered at once instead of after dovecot's default 2 s.
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={dir}/home
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ImapServer:
    port: int
    ssl_port: int
    directory: Path
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD

    @property
    def cert(self) -> Path:
        return self.directory / "cert.pem"

    def url(self, *, secure: bool = False, password: str | None = None, folder: str = "") -> str:
        scheme, port = ("imaps", self.ssl_port) if secure else ("imap", self.port)
        secret = quote(self.password if password is None else password, safe="")
        return f"{scheme}://{quote(self.user, safe='')}:{secret}@{self.host}:{port}/{folder}"

    def client(self) -> imaplib.IMAP4:
        """A logged-in client over STARTTLS, as the tests' own view of the mailbox."""
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        imap.starttls(ssl_context=ssl.create_default_context(cafile=str(self.cert)))
        imap.login(self.user, self.password)
        return imap

    def append(self, data: bytes, folder: str = "INBOX") -> None:
        with self.client() as imap:
            typ, reply = imap.append(f'"{folder}"', None, None, data)
            assert typ == "OK", reply

    def create(self, folder: str) -> None:
        with self.client() as imap:
            typ, reply = imap.create(f'"{folder}"')
            assert typ == "OK", reply

    def messages(self, folder: str = "INBOX") -> list[bytes]:
        """The messages still in the folder (deleted or not), in order."""
        with self.client() as imap:
            typ, reply = imap.select(f'"{folder}"', readonly=True)
            assert typ == "OK", reply
            _, [found] = imap.uid("SEARCH", "ALL")
            result: list[bytes] = []
            for uid in found.split():
                _, data = imap.uid("FETCH", uid, "(BODY.PEEK[])")
                result += [part[1] for part in data if isinstance(part, tuple)]
            return result

    def flags(self, folder: str = "INBOX") -> list[str]:
        with self.client() as imap:
            imap.select(f'"{folder}"', readonly=True)
            _, data = imap.fetch("1:*", "(FLAGS)")
            return [item.decode() for item in data if isinstance(item, bytes)]

    def log(self) -> str:
        path = self.directory / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _wait_ready(server: ImapServer, process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited with {process.returncode}:\n{server.log()}")
        try:
            with socket.create_connection((server.host, server.port), timeout=1) as sock:
                if sock.recv(100).startswith(b"* OK"):  # the greeting: imap-login is serving
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"dovecot did not answer on {server.host}:{server.port} in {timeout} s:\n{server.log()}")


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    if not DOVECOT.exists():
        pytest.skip("dovecot-imapd is not installed (/usr/sbin/dovecot); `make system-deps` installs it")
    directory = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp"))
    process: subprocess.Popen[bytes] | None = None
    try:
        directory.chmod(0o755)  # dovecot's unprivileged processes traverse it
        server = ImapServer(port=free_port(), ssl_port=free_port(), directory=directory)
        (directory / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        for name in ("mail", "home"):
            (directory / name).mkdir()
            shutil.chown(directory / name, "dovecot", "dovecot")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(directory / "key.pem"), "-out", str(server.cert), "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True,
        )  # fmt: skip
        config = directory / "dovecot.conf"
        config.write_text(CONFIG.format(dir=directory, port=server.port, ssl_port=server.ssl_port))
        process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_ready(server, process)
        yield server
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def trust(monkeypatch: pytest.MonkeyPatch, server: ImapServer) -> None:
    """Make this process and the CLI processes it starts trust the server's certificate."""
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
