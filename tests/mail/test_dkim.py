"""DKIM: keygen, fast-path signatures verified by dkimpy, tampering, configuration errors."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import dkim
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from pydantic import ValidationError

from newsletter.mail import dkim_keys as dk
from newsletter.config import Settings
from newsletter.mail.dkim_sign import DkimSigner, relaxed_body
from newsletter.mail.message import MessageTemplate, Reader
from newsletter.render.issue import RenderedIssue
from newsletter.render.markers import GREETING_SLOT, UNSUBSCRIBE_SLOT
from tests.cli_runner import make_run

DOMAIN = "example.org"
TEXT = f"Hello  {GREETING_SLOT}\n\nsome   text \t \nmore\ttabs\t\n\n{UNSUBSCRIBE_SLOT}\n\n\n"
HTML = f"<p>{GREETING_SLOT}</p>\n<p>x   y  </p>\n" * 3 + f"<a href='{UNSUBSCRIBE_SLOT}'>unsubscribe</a>\n"


def _keys(tmp_path: Path, kinds: tuple[str, ...]) -> tuple[str, dict[str, bytes]]:
    records, entries = {}, []
    for i, kind in enumerate(kinds):
        key = dk.generate(kind)  # type: ignore[arg-type]
        path = dk.write_key(key, tmp_path, f"s{i}")
        records[f"s{i}._domainkey.{DOMAIN}."] = dk.public_record(key).encode()
        entries.append(f"s{i}={path}")
    return ",".join(entries), records


def _dns(records: dict[str, bytes]):  # noqa: ANN202
    return lambda name, timeout=5: records.get(name.decode())


def _verify_all(message: bytes, records: dict[str, bytes]) -> bool:
    d = dkim.DKIM(message)
    count = message.count(b"DKIM-Signature:")
    try:
        return count > 0 and all(d.verify(idx=i, dnsfunc=_dns(records)) for i in range(count))
    except dkim.ValidationError:
        return False


def _settings(keys: str) -> Settings:
    return Settings(from_address=f"The Briefing <b@{DOMAIN}>", dkim_keys=keys, dkim_domain=DOMAIN)


@functools.cache
def _signer(keys: str) -> DkimSigner | None:
    """One signer per key set: loading (and checking) an RSA key takes ~40 ms."""
    return DkimSigner.from_settings(_settings(keys))


def _template(
    keys: str, text: str = TEXT, html: str = HTML, subject: str = "The  week", *, reuse_signer: bool = False
) -> MessageTemplate:
    s = _settings(keys)
    signer = _signer(keys) if reuse_signer else DkimSigner.from_settings(s)
    return MessageTemplate.compile(RenderedIssue(subject, "", html, text), s, signer=signer)


READER = Reader("reader@example.net", "Zoë  Doe", "https://news.example.org/u/abc", "mailto:u@example.org?subject=x")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, bytes]]:
    return _keys(tmp_path_factory.mktemp("keys"), ("rsa", "ed25519"))


@pytest.mark.parametrize("kinds", [("rsa",), ("ed25519",), ("rsa", "ed25519")])
def test_signed_messages_verify(tmp_path: Path, kinds: tuple[str, ...]) -> None:
    keys, records = _keys(tmp_path, kinds)
    template = _template(keys)
    assert template.dkim is not None and template.dkim._fast
    message = template.personalise(READER, "<m1@example.org>")
    assert message.count(b"DKIM-Signature:") == len(kinds)
    assert _verify_all(message, records)


def test_tampering_fails(both: tuple[str, dict[str, bytes]]) -> None:
    keys, records = both
    message = _template(keys).personalise(READER, "<m1@example.org>")
    body_at = message.index(b"some")
    assert not _verify_all(message[:body_at] + b"S" + message[body_at + 1 :], records)
    assert not _verify_all(message.replace(b"reader@example.net", b"reader@example.com"), records)
    assert not _verify_all(message.replace(b"Subject: The week", b"Subject: The weak"), records)
    # Whitespace changes that relaxed canonicalisation ignores keep it valid.
    assert _verify_all(message.replace(b"Subject: The week", b"Subject:  The \t week"), records)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=80), body=st.text(max_size=300), email_local=st.from_regex(r"[a-z0-9._+-]{1,20}", fullmatch=True))
def test_generated_names_and_bodies_verify(both: tuple[str, dict[str, bytes]], name: str, body: str,
                                           email_local: str) -> None:
    keys, records = both
    text = f"{body}\n{GREETING_SLOT}{body}\n{body}{UNSUBSCRIBE_SLOT}{body}"
    html = f"<p>{body}{GREETING_SLOT}</p>{body}<a href='{UNSUBSCRIBE_SLOT}'>x</a>{body}"
    template = _template(keys, text, html, subject=body[:40] or "s", reuse_signer=True)
    assert template.dkim is not None and template.dkim._fast
    reader = Reader(f"{email_local}@example.net", name, f"https://news.example.org/u/{email_local}", "")
    assert _verify_all(template.personalise(reader, "<m@example.org>"), records)


def test_fast_path_matches_whole_message_signing(both: tuple[str, dict[str, bytes]]) -> None:
    keys, records = both
    template = _template(keys)
    assert template.dkim is not None
    message = template.personalise(READER, "<m1@example.org>")
    unsigned = message[message.index(b"From:") :]
    slow = template.dkim.signer.sign(unsigned)
    assert _verify_all(slow + unsigned, records)
    bh = [line for line in message.split(b"\r\n") if b"bh=" in line]
    assert bh and all(line in slow.split(b"\r\n") for line in bh)


def test_relaxed_body_matches_dkimpy() -> None:
    from dkim.canonicalization import Relaxed

    for body in [b"", b"\r\n", b"\r\n\r\n", b"a", b"a \t\r\n\r\n\r\n", b" x  y \r\n\t\r\nz", b"a\r\n \r\n"]:
        assert relaxed_body(body) == Relaxed.canonicalize_body(body)


def test_unsigned_without_keys() -> None:
    s = Settings(from_address=f"B <b@{DOMAIN}>")
    assert DkimSigner.from_settings(s) is None
    template = MessageTemplate.compile(RenderedIssue("s", "", HTML, TEXT), s, signer=None)
    assert b"DKIM-Signature" not in template.personalise(READER, "<m@example.org>")


def test_missing_or_bad_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read DKIM key"):
        Settings(dkim_keys=f"s1={tmp_path}/nope.key")
    with pytest.raises(ValidationError, match="selector=/path"):
        Settings(dkim_keys="just-a-path")
    (tmp_path / "bad.key").write_text("not a key\n")
    with pytest.raises(dk.DkimKeyError, match="neither PEM nor"):
        DkimSigner.from_settings(Settings(dkim_keys=f"s1={tmp_path}/bad.key"))
    env_run = subprocess_with_env(tmp_path, f"s1={tmp_path}/nope.key")
    assert env_run.returncode != 0 and "cannot read DKIM key" in env_run.stderr
    assert "Traceback" not in env_run.stderr


def subprocess_with_env(tmp_path: Path, keys: str):  # noqa: ANN201
    import os
    import subprocess

    from tests.cli_runner import NEWSLETTER

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(NEWSLETTER_DATA_DIR=str(tmp_path / "var"), NEWSLETTER_DKIM_KEYS=keys)
    return subprocess.run([NEWSLETTER, "worker", "--until-idle"], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_keygen_writes_key_and_record(tmp_path: Path, kind: str) -> None:
    run = make_run(tmp_path)
    out = tmp_path / "keys"
    done = run("dkim", "keygen", "--domain", DOMAIN, "--selector", "2026a", "--type", kind, "--out", str(out))
    lines = done.stdout.strip().splitlines()
    record = lines[-1]
    assert record.startswith(f"v=DKIM1; k={kind}; p=")
    assert f"2026a._domainkey.{DOMAIN}" in lines[-2]
    key_file = out / "2026a.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    data = key_file.read_bytes()
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----") if kind == "rsa" else len(data.strip()) == 44
    # The key signs with dkimpy too, and our signature verifies against the printed record.
    records = {f"2026a._domainkey.{DOMAIN}.": record.encode()}
    template = _template(f"2026a={key_file}")
    assert _verify_all(template.personalise(READER, "<m@example.org>"), records)
    plain = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nbody\r\n"
    signed = dkim.sign(plain, b"2026a", DOMAIN.encode(), data, signature_algorithm=f"{kind}-sha256".encode())
    assert _verify_all(signed + plain, records)
    again = run("dkim", "keygen", "--domain", DOMAIN, "--selector", "2026a", "--out", str(out), "--json", ok=False)
    assert again.returncode == 1 and "exists already" in again.stderr
    as_json = json.loads(run("dkim", "keygen", "--domain", DOMAIN, "--selector", "b", "--out", str(out),
                             "--json").stdout)
    assert as_json["record"].startswith("v=DKIM1; k=rsa; p=") and as_json["name"] == f"b._domainkey.{DOMAIN}"


def test_the_worker_signs_every_message_of_a_real_issue(services, tmp_path: Path) -> None:  # noqa: ANN001
    from newsletter.issues.compose import compose
    from newsletter.delivery.dispatch import Worker
    from tests.factories import add_article, add_subscribers

    keys, records = _keys(tmp_path, ("rsa", "ed25519"))
    add_article(services.sessions, "Is the Kursk operation still worth the cost?")
    issue_id = compose(services.sessions, services.settings).issue_id
    add_subscribers(services.sessions, 5)
    services.publisher.queue(issue_id)
    settings = services.settings.model_copy(update={"dkim_keys": keys, "dkim_domain": DOMAIN})
    worker = Worker(services.store, services.backend, settings, services.links)
    assert worker.run(drain=True) == 5
    sent = services.backend.sent
    assert len(sent) == 5
    assert all(m.data.count(b"DKIM-Signature:") == 2 and _verify_all(m.data, records) for m in sent)


def test_one_off_mail_is_signed_too(both: tuple[str, dict[str, bytes]]) -> None:
    from newsletter.mail.message import build_simple_message

    keys, records = both
    settings = Settings(from_address=f"The Briefing <b@{DOMAIN}>", dkim_keys=keys, dkim_domain=DOMAIN)
    _, data = build_simple_message(settings, to_email="reader@example.net", to_name="Zoë", subject="Confirm",
                                   text="Please confirm:\nhttps://news.example.org/confirm/x\n", html=None)
    assert data.count(b"DKIM-Signature:") == 2 and _verify_all(data, records)
