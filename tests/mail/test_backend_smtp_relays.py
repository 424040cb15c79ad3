"""Several relays (NEWSLETTER_SMTP_HOSTS): the load shared, a dead relay out of rotation until it
answers again, and no reader lost or sent twice when a relay dies mid-send.

Real loopback SMTP servers (tests/smtp_server.py); a relay "crashes" as a killed process would:
its connections close, its port stops listening, and what arrives meanwhile is not queued. The
back-off before a dead relay is probed again runs on an injected clock (the real one only in the
worker test, where the relay is down for about a second).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from newsletter.config import Settings, load_settings
from newsletter.issues.models import IssueStatus
from newsletter.mail.backends.base import BackendError, OutgoingMessage, SendResult, SendStatus
from newsletter.mail.backends.smtp import SMTPBackend
from newsletter.mail.backends.smtp_relays import Relay, configured_relays
from newsletter.services import Services
from tests.factories import add_subscribers
from tests.mail.test_backends import make_message
from tests.smtp_server import SMTPTestServer
from tests.workers import (
    delivery_states,
    expected_messages,
    issue_status,
    message_id_of,
    reader_message_id,
    rendered_issue,
    run_cli,
    smtp_settings,
    start_worker,
    stop,
    wait_until,
    worker_env,
)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def relays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SMTPTestServer, SMTPTestServer]]:
    first = SMTPTestServer(workdir=tmp_path_factory.mktemp("relay-a")).start()
    second = SMTPTestServer(workdir=tmp_path_factory.mktemp("relay-b")).start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def hosts(*servers: SMTPTestServer) -> str:
    return ",".join(f"{server.host}:{server.port}" for server in servers)


def make_backend(tmp_path: Path, smtp_hosts: str, clock: Clock | None = None, **overrides: object) -> SMTPBackend:
    values: dict[str, object] = {"smtp_tls": "none", "smtp_timeout": 2.0, "smtp_connections": 2}
    values.update(overrides)
    settings = load_settings(data_dir=tmp_path / "var", secret_key="x", admin_password="y", smtp_hosts=smtp_hosts,
                             **values)  # fmt: skip
    return SMTPBackend(settings, clock=clock or Clock())


def readers(count: int, start: int = 0) -> list[OutgoingMessage]:
    return [make_message(f"reader{n}@example.net", n) for n in range(start, start + count)]


def received(*servers: SMTPTestServer) -> Counter[str]:
    """Recipient -> how many times it arrived, over every relay."""
    return Counter(rcpt for server in servers for rcpt in server.recipients)


def assert_all_sent_once(messages: list[OutgoingMessage], results: list[SendResult], *servers: SMTPTestServer) -> None:
    assert [r.status for r in results] == [SendStatus.SENT] * len(messages), [r.reply for r in results if r.reply]
    got = received(*servers)
    assert all(got[m.recipient] == 1 for m in messages), {m.recipient: got[m.recipient] for m in messages}


# -- the setting -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("mx1.example.org:2525, mx2.example.org", [Relay("mx1.example.org", 2525), Relay("mx2.example.org", 587)]),
    ("[2001:db8::1]:25,10.0.0.7,", [Relay("2001:db8::1", 25), Relay("10.0.0.7", 587)]),
    ("2001:db8::2", [Relay("2001:db8::2", 587)]),
])  # fmt: skip
def test_smtp_hosts_lists_relays_and_a_bare_host_takes_smtp_port(value: str, expected: list[Relay]) -> None:
    assert list(configured_relays(Settings(smtp_hosts=value, smtp_port=587))) == expected


def test_a_relay_is_named_as_it_is_written() -> None:
    relays = configured_relays(Settings(smtp_hosts="[2001:db8::1]:25,mx.example.org"))
    assert [str(relay) for relay in relays] == ["[2001:db8::1]:25", "mx.example.org:25"]


def test_without_smtp_hosts_the_one_relay_is_smtp_host_and_port() -> None:
    relays = configured_relays(Settings(smtp_host="relay.example.org", smtp_port=2525))
    assert relays == (Relay("relay.example.org", 2525),)


@pytest.mark.parametrize(("value", "says"), [
    ("smtp://relay.example.org", "host or host:port"),
    ("relay.example.org:smtp", "no valid port"),
    ("relay.example.org:0", "no valid port"),
    ("relay.example.org:70000", "no valid port"),
    ("relay one.example.org", "host or host:port"),
    ("[relay.example.org]:25", "host or host:port"),
    ("[2001:db8::1:25", "host or host:port"),
    ("a.example.org:25,a.example.org:25", "names a.example.org:25 twice"),
    (" , ", "names no relay"),
])  # fmt: skip
def test_a_bad_smtp_hosts_value_is_refused_naming_the_entry(value: str, says: str) -> None:
    with pytest.raises(ValidationError, match="smtp_hosts") as caught:
        Settings(smtp_hosts=value)
    assert says in str(caught.value)


def test_the_worker_refuses_to_start_on_a_bad_smtp_hosts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env |= {"NEWSLETTER_DATA_DIR": str(tmp_path / "var"), "NEWSLETTER_BACKEND": "smtp",
            "NEWSLETTER_SMTP_HOSTS": "mx1.example.org:25,mx2.example.org:smtp"}  # fmt: skip
    done = run_cli(env, "worker", "--until-idle")
    assert done.returncode == 2
    assert "invalid settings" in done.stderr and "'mx2.example.org:smtp' has no valid port" in done.stderr


# -- sharing the load --------------------------------------------------------------------------


def test_the_connections_are_spread_over_the_relays(tmp_path: Path, relays: tuple[SMTPTestServer, ...]) -> None:
    first, second = relays
    backend = make_backend(tmp_path, hosts(first, second), smtp_connections=4)
    messages = readers(200)

    results = backend.send(messages)

    assert_all_sent_once(messages, results, first, second)
    assert (first.open_connections, second.open_connections) == (2, 2)
    assert first.messages and second.messages
    backend.close()


# -- a dead relay ------------------------------------------------------------------------------


def test_a_refusing_relay_leaves_the_rotation_is_probed_with_back_off_and_used_again_once_it_answers(
    tmp_path: Path, relays: tuple[SMTPTestServer, ...], caplog: pytest.LogCaptureFixture
) -> None:
    refusing, healthy = relays
    refusing.max_connections = 0  # every connection gets "421 too many connections"
    clock = Clock()
    backend = make_backend(tmp_path, hosts(refusing, healthy), clock)

    with caplog.at_level(logging.WARNING, logger="newsletter.mail.backends.smtp"):
        batch = readers(50)
        assert_all_sent_once(batch, backend.send(batch), refusing, healthy)  # its share went to the other
    assert refusing.connections == 1 and not refusing.messages
    assert f"SMTP relay {refusing.host}:{refusing.port} out of rotation" in caplog.text

    probes = []
    for step, seconds in enumerate([0.5, 0.6, 0.9, 1.2, 0.5], start=1):  # at 0.5, 1.1, 2.0, 3.2, 3.7 s
        clock.now += seconds
        batch = readers(50, start=100 * step)
        assert_all_sent_once(batch, backend.send(batch), refusing, healthy)
        probes.append(refusing.connections - 1)
    # Probed after 1 s (refused again: the next probe waits 2 s), then at 3.2 s; never in between.
    assert probes == [0, 1, 1, 2, 2]

    refusing.max_connections = None  # the relay answers again
    clock.now += 4.1  # past the next probe (3.2 + 4 s)
    with caplog.at_level(logging.WARNING, logger="newsletter.mail.backends.smtp"):
        batch = readers(200, start=1000)
        assert_all_sent_once(batch, backend.send(batch), refusing, healthy)
    assert refusing.messages, "the relay that came back got no share of the load"
    assert "answers again: back in rotation" in caplog.text
    backend.close()


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "plain"])
def test_a_relay_dying_mid_send_hands_what_it_had_not_taken_to_the_other_within_the_call(
    tmp_path: Path, relays: tuple[SMTPTestServer, ...], pipelining: bool
) -> None:
    dying, healthy = relays
    dying.crash_after = 10
    backend = make_backend(tmp_path, hosts(dying, healthy), smtp_pipelining=pipelining)
    messages = readers(200)

    results = backend.send(messages)

    assert dying.crashed and len(dying.messages) == 10
    got = received(dying, healthy)
    sent = [m.recipient for m, r in zip(messages, results, strict=True) if r.status is SendStatus.SENT]
    deferred = [(m.recipient, r) for m, r in zip(messages, results, strict=True) if r.status is not SendStatus.SENT]
    # Only the message in flight on the dying relay's one connection is left for later; it never
    # arrived (the relay died before queueing it), and "possibly sent" says so if its content went out.
    assert len(deferred) <= 1, [r.reply for _, r in deferred]
    assert all(r.status is SendStatus.DEFERRED and "lost" in r.reply and got[rcpt] == 0 for rcpt, r in deferred)
    assert sorted(got.elements()) == sorted(sent)  # everyone else exactly once, over the two relays

    # The next call does not knock on the dead relay's door: its back-off has not run out.
    following = readers(50, start=500)
    assert_all_sent_once(following, backend.send(following), dying, healthy)
    assert healthy.open_connections == 2
    backend.close()


def test_when_every_relay_is_down_send_raises_naming_each_and_sends_nothing(
    tmp_path: Path, relays: tuple[SMTPTestServer, ...]
) -> None:
    first, second = relays
    first.max_connections = second.max_connections = 0
    backend = make_backend(tmp_path, hosts(first, second))

    with pytest.raises(BackendError) as caught:
        backend.send(readers(20))

    assert f"{first.host}:{first.port}" in str(caught.value) and f"{second.host}:{second.port}" in str(caught.value)
    assert "no SMTP relay could be reached" in str(caught.value)
    assert not first.messages and not second.messages

    # Every relay out of rotation: the next call tries them all again rather than give up untried.
    second.max_connections = None
    batch = readers(20, start=100)
    assert_all_sent_once(batch, backend.send(batch), first, second)
    backend.close()


# -- through the real worker -------------------------------------------------------------------

READERS = 1500


def test_two_relays_one_killed_mid_send_every_reader_gets_the_issue_once(
    settings: Settings, relays: tuple[SMTPTestServer, ...], tmp_path: Path
) -> None:
    """`newsletter worker` over two relays; one dies after accepting 150 messages and comes back a
    moment later. Every reader gets the issue once, over the two, and the revived relay is used again."""
    dying, healthy = relays
    dying.crash_after = 150
    # Slow enough to watch (a rate limit, a real setting); a deferred delivery comes back after ~1 s.
    send_settings = smtp_settings(tmp_path / "var", settings.database, dying, batch_size=20, rate_per_second=250.0,
                                  smtp_connections=2, retry_seconds=1)  # fmt: skip
    services = Services.build(send_settings)
    env = worker_env(send_settings) | {"NEWSLETTER_SMTP_HOSTS": hosts(dying, healthy), "NEWSLETTER_RETRY_SECONDS": "1"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        add_subscribers(services.sessions, READERS)
        issue = rendered_issue(services)
        assert services.publisher.queue(issue).queued == READERS
        log = tmp_path / "worker.log"
        worker = start_worker(env, log=log)
        processes.append(worker)

        wait_until(lambda: dying.crashed, timeout=30, what="one relay dies mid-send")
        at_crash = len(healthy.messages)
        wait_until(lambda: len(healthy.messages) >= at_crash + 100, timeout=30, what="the other relay carries on")
        dying.restart()
        assert len(dying.messages) + len(healthy.messages) < READERS - 300, "the send ended before the relay came back"
        wait_until(lambda: len(dying.messages) > 150, timeout=30, what="the relay that came back is used again")
        wait_until(lambda: issue_status(services.sessions, issue) is IssueStatus.SENT, timeout=60,
                   what="the issue is sent")  # fmt: skip
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0

        expected = expected_messages(services.sessions, issue, send_settings.mail_domain)
        arrived = Counter(reader_message_id(message_id_of(m.data)) for m in [*dying.messages, *healthy.messages])
        twice = {mid: n for mid, n in arrived.items() if n > 1}
        assert not twice, f"{len(twice)} readers got the issue twice, e.g. {sorted(twice.items())[:3]}"
        assert set(arrived) == set(expected), f"{len(set(expected) - set(arrived))} readers never got it"
        assert delivery_states(services.sessions, issue) == {"sent": READERS}
        first_line = log.read_text().splitlines()[0]
        assert first_line.startswith("worker: 1 worker process x ") and first_line.endswith(
            f"sending through smtp via {dying.host}:{dying.port}, {healthy.host}:{healthy.port}; Ctrl-C stops")
    finally:
        stop(processes)
        services.close()
