"""`newsletter inbound --imap URL`: the list's mail read from a real IMAP mailbox (dovecot).

Messages are put into the mailbox with IMAP APPEND, as an MDA would have delivered them; the
real `newsletter` command polls it; the checks are what an operator would look at: the
reader's status, the outbox, the mailbox, the command's output and exit code.
"""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.inbound.handler import InboundHandler, InboundUnavailable
from newsletter.inbound.imap import ImapError, ImapUrl, InvalidImapUrl, envelope_of, parse_imap_url, poll_once
from newsletter.services import Services
from tests.cli_runner import NEWSLETTER, Run, make_run
from tests.imap_server import ImapServer, free_port, trust
from tests.imap_server import imap_server as imap_server  # noqa: F401  (the real IMAP server fixture)

LEAVER = "leaver@example.com"
ASKER = "asker@example.com"


def _mail(rcpt_header: str, sender: str, subject: str, return_path: str | None = None, body: str = "hello") -> bytes:
    """A message as it sits in a mailbox after delivery: the MDA's Return-Path and Delivered-To."""
    path = f"Return-Path: <{sender if return_path is None else return_path}>\r\n"
    return (f"{path}{rcpt_header}From: {sender}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash(subject))}@test>\r\n\r\n{body}\r\n").encode()  # fmt: skip


BROKEN = (
    b"Return-Path: <junk@example.net>\r\nTo: unsubscribe@example.org\r\n"
    b"Content-Type: multipart/report; boundary=\r\n\r\n--\xff\xfe garbage\r\n" + b"\xff\xfe garbage\r\n--\r\n" * 50
)


def _status(run: Run, address: str) -> str:
    return str(json.loads(run("subscribers", "show", address, "--json").stdout)["status"])


def _outbox(tmp_path: Path) -> list[email.message.Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted((tmp_path / "var" / "outbox").glob("*.eml"))]


def test_once_handles_every_message_once_and_empties_the_mailbox(
    tmp_path: Path, database_url: str, imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust(monkeypatch, imap_server)
    run = make_run(tmp_path, database_url)
    run("subscribers", "add", LEAVER)
    # Bcc'd to leave@: only the MDA's Delivered-To names us.
    imap_server.append(_mail("Delivered-To: leave@example.org\r\nTo: friends@elsewhere.test\r\n", LEAVER, "stop"))
    imap_server.append(_mail("To: The Briefing <help@example.org>\r\n", ASKER, "help"))
    imap_server.append(_mail("To: someone@elsewhere.test\r\n", "spam@elsewhere.test", "not for us"))
    imap_server.append(_mail("Cc: subscribe@example.org\r\nTo: x@elsewhere.test\r\n", "new@example.com", "join"))
    imap_server.append(BROKEN)

    done = run("inbound", "--imap", imap_server.url(), "--once")
    assert done.stdout.splitlines()[-1] == f"handled 5 messages from imap://newsletter@127.0.0.1:{imap_server.port}/INBOX"
    assert "ignored: someone@elsewhere.test is not one of our addresses" in done.stdout
    assert imap_server.password not in done.stdout + done.stderr
    assert _status(run, LEAVER) == "active"  # From proves nothing: the leaver is asked to confirm
    assert _status(run, "new@example.com") == "pending"
    replies = {str(m["To"]): m for m in _outbox(tmp_path)}
    assert set(replies) == {ASKER, "new@example.com", LEAVER}  # help reply and the confirmations, nothing else
    assert "unsubscribe@example.org" in replies[ASKER].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert imap_server.messages() == []
    # The password crossed the connection after STARTTLS (dovecot notes it on the login line).
    assert all(", TLS," in line for line in imap_server.log().splitlines() if "Login: user=<newsletter>" in line)

    again = run("inbound", "--imap", imap_server.url(), "--once")
    assert again.stdout.strip().endswith("handled 0 messages from " + str(parse_imap_url(imap_server.url())))
    assert len(_outbox(tmp_path)) == 3


def test_imaps_and_another_folder(tmp_path: Path, imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch) -> None:
    trust(monkeypatch, imap_server)
    run = make_run(tmp_path)
    imap_server.create("List Mail")
    imap_server.append(_mail("To: help@example.org\r\n", ASKER, "help"), folder="List Mail")
    imap_server.append(_mail("To: help@example.org\r\n", "other@example.com", "help"))
    done = run("inbound", "--imap", imap_server.url(secure=True, folder="List%20Mail"), "--once")
    assert "handled 1 message from imaps://" in done.stdout and "/List Mail" in done.stdout
    assert [str(m["To"]) for m in _outbox(tmp_path)] == [ASKER]
    assert imap_server.messages("List Mail") == [] and len(imap_server.messages()) == 1


def test_errors_are_one_line_and_exit_1(tmp_path: Path, imap_server: ImapServer, run: Run) -> None:
    # `run` does not trust the self-signed certificate: STARTTLS must fail, not fall back to plain text.
    untrusted = run("inbound", "--imap", imap_server.url(), "--once", ok=False)
    assert untrusted.returncode == 1
    assert untrusted.stderr.startswith(f"error: IMAP 127.0.0.1:{imap_server.port}: TLS failed: CERTIFICATE_VERIFY_FAILED")

    port = free_port()
    refused = run("inbound", "--imap", f"imap://u:p@127.0.0.1:{port}/", "--once", ok=False)
    assert (refused.returncode, refused.stderr) == (1, f"error: IMAP 127.0.0.1:{port}: cannot connect: Connection refused\n")
    for done in (untrusted, refused):
        assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_wrong_password_and_missing_folder(
    tmp_path: Path, imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust(monkeypatch, imap_server)
    run = make_run(tmp_path)
    imap_server.append(_mail("To: help@example.org\r\n", ASKER, "help"))
    wrong = run("inbound", "--imap", imap_server.url(password="wrong"), "--once", ok=False)
    assert wrong.returncode == 1
    assert wrong.stderr == (f"error: IMAP 127.0.0.1:{imap_server.port}: login refused: "
                            "[AUTHENTICATIONFAILED] Authentication failed.\n")  # fmt: skip
    missing = run("inbound", "--imap", imap_server.url(folder="Nope"), "--once", ok=False)
    assert missing.returncode == 1 and "SELECT Nope refused: NO" in missing.stderr and "Traceback" not in missing.stderr
    assert len(imap_server.messages()) == 1 and _outbox(tmp_path) == []


def _start(tmp_path: Path, url: str, *args: str) -> tuple[subprocess.Popen[str], Path, Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(NEWSLETTER_DATA_DIR=str(tmp_path / "var"), NEWSLETTER_FROM_ADDRESS="Briefing <briefing@example.org>",
               NEWSLETTER_BACKEND="outbox")  # fmt: skip
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen([NEWSLETTER, "inbound", "--imap", url, *args], env=env, cwd=tmp_path,
                                   stdout=stdout, stderr=stderr, text=True)  # fmt: skip
    return process, out, err


def _until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_loop_polls_until_sigterm_and_retries_after_errors(
    tmp_path: Path, imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust(monkeypatch, imap_server)
    (tmp_path / "wrong").mkdir()
    failing, _, failing_err = _start(tmp_path / "wrong", imap_server.url(password="wrong"), "--interval", "1")
    process, out, _ = _start(tmp_path, imap_server.url(), "--interval", "1")
    try:
        imap_server.append(_mail("To: help@example.org\r\n", ASKER, "help 1"))
        _until(lambda: "handled 1 message" in out.read_text())
        imap_server.append(_mail("To: help@example.org\r\n", "asker2@example.com", "help 2"))  # once a day each
        _until(lambda: out.read_text().count("handled 1 message") == 2)
        assert imap_server.messages() == [] and len(_outbox(tmp_path)) == 2
        # A refused login is said, and tried again at the next interval; the loop lives on.
        _until(lambda: failing_err.read_text().count("AUTHENTICATIONFAILED") >= 2)
        assert failing.poll() is None and "Traceback" not in failing_err.read_text()
    finally:
        for proc in (process, failing):
            proc.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0 and failing.wait(10) == 0


class _Exploding(InboundHandler):
    def handle(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> list[str]:
        if b"boom" in data:
            raise RuntimeError("boom")
        return super().handle(mail_from, rcpt_tos, data)


def test_a_message_whose_handling_raised_is_kept_flagged_and_said(
    services: Services, imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust(monkeypatch, imap_server)
    imap_server.append(_mail("To: help@example.org\r\n", ASKER, "boom", body="boom"))
    imap_server.append(_mail("To: help@example.org\r\n", ASKER, "help"))
    said: list[str] = []
    url = parse_imap_url(imap_server.url())
    assert poll_once(url, _Exploding(services), said.append) == 1
    assert any(line.startswith("error: message UID 1 in imap://") and "RuntimeError: boom" in line for line in said)
    assert [m.recipient for m in services.backend.sent] == [ASKER]  # type: ignore[attr-defined]
    [kept] = imap_server.messages()
    assert b"boom" in kept and "\\Flagged" in imap_server.flags()[0]
    assert poll_once(url, _Exploding(services), said.append) == 0  # not retried forever


def test_poll_once_errors_name_host_and_reply() -> None:
    with pytest.raises(ImapError, match=r"^IMAP 127\.0\.0\.1:\d+: cannot connect: Connection refused$"):
        poll_once(ImapUrl(False, "127.0.0.1", free_port(), "u", "p"), None)  # type: ignore[arg-type]


def test_url_parsing() -> None:
    assert parse_imap_url("imaps://list%40example.org:p%40ss%2Fw%20rd@mail.example.org") == ImapUrl(
        True, "mail.example.org", 993, "list@example.org", "p@ss/w rd", "INBOX"
    )
    url = parse_imap_url("imap://u:@[::1]:1143/Lists/News%20letter")
    assert (url.host, url.port, url.password, url.folder) == ("::1", 1143, "", "Lists/News letter")
    assert str(parse_imap_url("imap://u:secret@h/")) == "imap://u@h:143/INBOX"
    for bad in ("http://u:p@h/", "imap://h/", "imap://u@h/", "imap://u:p@h:99999/", "imap://u:p@h:x/"):
        with pytest.raises(InvalidImapUrl):
            parse_imap_url(bad)


def test_envelope_recipients_from_headers() -> None:
    ours = {"unsubscribe@example.org", "help@example.org", "bounces+a=b.c@example.org"}.__contains__
    data = (b"Return-Path: <a@b.c>\r\nDelivered-To: me@gmail.test\r\nX-Original-To: help@example.org\r\n"
            b"To: unsubscribe@example.org\r\n\r\nx")  # fmt: skip
    assert envelope_of(data, ours) == ("a@b.c", ["help@example.org"])  # the envelope wins over To
    data = b"Return-Path: <>\r\nDelivered-To: me@gmail.test\r\nTo: x@y.z, bounces+a=b.c@example.org\r\n\r\n"
    assert envelope_of(data, ours) == ("", ["bounces+a=b.c@example.org"])  # a catch-all: To/Cc
    assert envelope_of(b"To: x@y.z\r\nCc: w@y.z\r\n\r\n", ours) == ("", ["x@y.z"])  # none ours: logged as ignored
    assert envelope_of(b"\xff\xfe\x00garbage", ours) == ("", [])


def test_an_oversized_message_is_dropped_and_a_dead_database_keeps_the_rest(
    services: Services, settings: Settings, imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust(monkeypatch, imap_server)
    small = Services.build(settings.model_copy(update={"inbound_max_bytes": 4096}))
    try:
        imap_server.append(_mail("To: help@example.org\r\n", ASKER, "huge", body="x" * 8000))
        imap_server.append(_mail("To: help@example.org\r\n", ASKER, "help"))
        said: list[str] = []
        url = parse_imap_url(imap_server.url())
        assert poll_once(url, InboundHandler(small), said.append) == 1
        assert any(line.startswith("dropped: message UID 1") for line in said), said
        assert imap_server.messages() == []
    finally:
        small.close()
    # The database is down: the poll stops, and the message waits in the mailbox for the next one.
    dead = Services.build(settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/none"}),
                          run_migrations=False)
    try:
        imap_server.append(_mail("Delivered-To: leave@example.org\r\n", LEAVER, "bye"))
        with pytest.raises(InboundUnavailable):
            poll_once(url, InboundHandler(dead), said.append)
        [kept] = imap_server.messages()
        assert b"bye" in kept
    finally:
        dead.close()
