"""The simple backends (outbox, console, memory) and finding backends by name."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from newsletter.mail.backends.base import BackendError, OutgoingMessage, SendResult, SendStatus
from newsletter.mail.backends.console import ConsoleBackend
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.mail.backends.outbox import OutboxBackend, sanitise
from newsletter.mail.backends.registry import UnknownBackend, available_backends, load_backend
from newsletter.mail.backends.smtp import SMTPBackend
from newsletter.config import Settings, load_settings

SENDER = "bounces@example.org"


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(data_dir=tmp_path / "var", secret_key="x", admin_password="y", smtp_tls="none", **overrides)


def make_message(recipient: str, n: int = 1, message_id: str | None = None) -> OutgoingMessage:
    """A tiny hand-made RFC 5322 message: CRLF line ends, a quoted-printable UTF-8 body."""
    mid = message_id or f"<issue-7.{n}@example.org>"
    data = (
        "From: The Briefing <briefing@example.org>\r\n"
        f"To: <{recipient}>\r\n"
        f"Subject: Issue 7, part {n}\r\n"
        "Date: Sat, 28 Nov 2026 07:00:00 +0000\r\n"
        f"Message-ID: {mid}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Caf=C3=A9 news this week.\r\n"
        ".A line that starts with a dot.\r\n"
    ).encode()  # UTF-8 only if the address is
    return OutgoingMessage(sender=SENDER, recipient=recipient, data=data, message_id=mid, delivery_id=n)


# -- outbox ------------------------------------------------------------------------------------


def test_outbox_writes_one_parseable_eml_file_per_message(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    messages = [make_message(f"reader{n}@example.net", n) for n in range(1, 4)]
    assert not settings.outbox_path.exists()

    results = OutboxBackend(settings).send(messages)

    assert [r.status for r in results] == [SendStatus.SENT] * 3
    assert all(r.code == 250 for r in results)
    files = sorted(settings.outbox_path.iterdir())
    assert [f.suffix for f in files] == [".eml"] * 3  # no temporary file left behind
    for path, message in zip(files, messages, strict=True):  # names sort in sending order
        assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}-issue-7\.\d@example\.org\.eml", path.name)
        assert path.read_bytes() == message.data  # byte for byte
        parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert parsed["To"] == message.recipient
        assert parsed.get_content().splitlines() == ["Café news this week.", ".A line that starts with a dot."]


def test_outbox_names_are_unique_for_the_same_message_id(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, outbox_dir=tmp_path / "out")
    same = [make_message("a@example.net", message_id="<same@example.org>") for _ in range(20)]
    OutboxBackend(settings).send(same)
    assert len(list((tmp_path / "out").glob("*.eml"))) == 20


def test_outbox_sanitises_message_ids_into_file_names() -> None:
    assert sanitise("<abc.1@example.org>") == "abc.1@example.org"
    assert sanitise("<../../etc/passwd x>") == "etc_passwd_x"
    assert sanitise("<>") == "message"
    assert len(sanitise("<" + "a" * 500 + "@x>")) == 100


def test_outbox_that_cannot_be_created_is_a_backend_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    backend = OutboxBackend(make_settings(tmp_path, outbox_dir=blocker / "outbox"))
    with pytest.raises(BackendError, match="cannot create outbox directory"):
        backend.send([make_message("a@example.net")])


# -- console -----------------------------------------------------------------------------------


def test_console_prints_envelope_and_decoded_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = ConsoleBackend(make_settings(tmp_path)).send([make_message("reader@example.net")])

    assert results == [SendResult(SendStatus.SENT, 250, "printed to console")]
    out = capsys.readouterr().out
    assert f"MAIL FROM: <{SENDER}>" in out
    assert "RCPT TO: <reader@example.net>" in out
    assert "Subject: Issue 7, part 1" in out
    assert "Café news this week." in out  # quoted-printable decoded


# -- memory ------------------------------------------------------------------------------------


def test_memory_records_sent_messages(tmp_path: Path) -> None:
    backend = MemoryBackend(make_settings(tmp_path))
    messages = [make_message("a@example.net", 1), make_message("b@example.net", 2)]

    results = backend.send(messages)

    assert [r.status for r in results] == [SendStatus.SENT, SendStatus.SENT]
    assert backend.sent == messages
    backend.close()
    assert backend.closed


def test_memory_scripts_outcomes_per_recipient(tmp_path: Path) -> None:
    bounced = SendResult(SendStatus.BOUNCED, 550, "5.1.1 no such user")
    deferred = SendResult(SendStatus.DEFERRED, 451, "4.3.0 try later")
    backend = MemoryBackend(
        make_settings(tmp_path), outcomes={"gone@example.net": bounced, "busy@example.net": deferred}
    )
    messages = [make_message(r) for r in ("ok@example.net", "gone@example.net", "busy@example.net")]

    results = backend.send(messages)

    assert results == [results[0], bounced, deferred]
    assert results[0].status is SendStatus.SENT
    assert [m.recipient for m in backend.sent] == ["ok@example.net"]
    assert [m.recipient for m, _ in backend.attempts] == [m.recipient for m in messages]


def test_memory_fail_with_raises_backend_error(tmp_path: Path) -> None:
    cause = ConnectionRefusedError("smtp down")
    backend = MemoryBackend(make_settings(tmp_path), fail_with=cause)
    with pytest.raises(BackendError) as info:
        backend.send([make_message("a@example.net")])
    assert info.value.__cause__ is cause
    assert backend.sent == []
    backend.fail_with = None  # the script can change between calls
    assert backend.send([make_message("a@example.net")])[0].status is SendStatus.SENT


# -- registry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [("outbox", OutboxBackend), ("smtp", SMTPBackend), ("console", ConsoleBackend), ("memory", MemoryBackend)],
)
def test_registry_builds_each_backend_by_name(tmp_path: Path, name: str, cls: type) -> None:
    assert name in available_backends()
    backend = load_backend(make_settings(tmp_path, backend=name))  # SMTP connects lazily: no server needed
    assert isinstance(backend, cls)
    backend.close()


def test_registry_rejects_an_unknown_name_listing_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownBackend, match="unknown delivery backend 'carrier-pigeon'") as info:
        load_backend(make_settings(tmp_path, backend="carrier-pigeon"))
    assert "console, memory, outbox, smtp" in str(info.value)
