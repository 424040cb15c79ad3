"""Helpers for tests that run the send engine as real processes: `newsletter worker` subprocesses
sending through the real SMTP test server to a real database.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings, load_settings
from newsletter.mail.message import make_message_id
from newsletter.delivery.models import Delivery, DeliveryStatus
from newsletter.issues.models import Issue, IssueStatus
from newsletter.readers.models import Subscriber
from newsletter.services import Services
from tests.factories import this_weeks_issue
from tests.smtp_server import SMTPTestServer

NEWSLETTER = str(Path(sys.executable).parent / "newsletter")
FROM_ADDRESS = "The Test Briefing <briefing@example.org>"
_MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>\r\n]*>)", re.MULTILINE | re.IGNORECASE)
_DELIVERY_TOKEN = re.compile(r"\.d-[0-9a-f]+-[a-z2-7]+(?=@)")


def smtp_settings(data_dir: Path, database_url: str, server: SMTPTestServer, **overrides: object) -> Settings:
    """The settings a worker process gets from `worker_env`, built in this process too."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "base_url": "http://newsletter.test",
        "from_address": FROM_ADDRESS,
        "list_name": "The Test Briefing",
        "backend": "smtp",
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_tls": "none",
        "smtp_timeout": 10.0,
        "secret_key": "test-secret-key",
        "admin_password": "test-admin-password",
        "lease_seconds": 5,
        "batch_size": 50,
        "worker_poll_seconds": 0.2,
        # One process with two connections, as these tests were written for, unless a test asks for
        # more (`--processes`) or for the defaults a user gets (0 = auto, delivery/sizing.py).
        "worker_processes": 1,
        "smtp_connections": 2,
    }
    values.update(overrides)
    return load_settings(**values)


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment of a `newsletter` process that sees exactly ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    fields = ("data_dir", "database_url", "base_url", "from_address", "list_name", "backend", "smtp_host",
              "smtp_port", "smtp_tls", "smtp_timeout", "secret_key", "admin_password", "lease_seconds",
              "batch_size", "record_every", "worker_poll_seconds", "rate_per_second", "smtp_connections", "worker_processes")
    for name in fields:
        env[f"NEWSLETTER_{name.upper()}"] = str(getattr(settings, name))
    return env


def start_worker(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`newsletter worker ARGS` in the background; its output goes to ``log`` (or nowhere)."""
    command = [NEWSLETTER, "worker", *args]
    if log is None:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(log, "ab") as out:  # the child has its own copy of the file descriptor
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NEWSLETTER, *args], env=env, capture_output=True, text=True, timeout=timeout)


def stop(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Kill what is still running (a test that failed half-way leaves no worker behind)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)


def wait_for(check: Callable[[], object], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``check`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def wait_until(check: Callable[[], object], timeout: float, what: str, interval: float = 0.02) -> None:
    if not wait_for(check, timeout, interval):
        raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")


def message_id_of(data: bytes) -> str:
    found = _MESSAGE_ID.search(data.partition(b"\r\n\r\n")[0])
    assert found is not None, data[:500]
    return found[1].decode("ascii")


def reader_message_id(message_id: str) -> str:
    """A worker's Message-ID without its signed delivery token: as make_message_id(issue, reader,
    domain) spells it, so a test can name the message it expects without the secret."""
    return _DELIVERY_TOKEN.sub("", message_id)


class Arrivals:
    """What the SMTP server received, per Message-ID (without its delivery token, see
    reader_message_id), read incrementally (the list only grows)."""

    def __init__(self, server: SMTPTestServer) -> None:
        self._server = server
        self._seen = 0
        self.counts: Counter[str] = Counter()
        self.recipients: dict[str, set[str]] = {}

    def update(self) -> Arrivals:
        messages = self._server.messages
        end = len(messages)
        for received in messages[self._seen:end]:
            message_id = reader_message_id(message_id_of(received.data))
            self.counts[message_id] += 1
            self.recipients.setdefault(message_id, set()).update(received.rcpt_tos)
        self._seen = end
        return self

    def of_issue(self, issue_id: int) -> Counter[str]:
        prefix = f"<issue-{issue_id}."
        return Counter({k: v for k, v in self.counts.items() if k.startswith(prefix)})

    def count(self, issue_id: int) -> int:
        return sum(self.update().of_issue(issue_id).values())


def rendered_issue(services: Services, now: datetime | None = None) -> int:
    """A composed and rendered issue (one article in the week ``now`` falls in), ready to queue."""
    issue_id = this_weeks_issue(services, "Is the Kursk operation still worth the cost?", now)
    services.publisher.rendered(issue_id)
    return issue_id


def copy_issue(sessions: sessionmaker[Session], template_id: int) -> int:
    """A further issue with the same rendered body (rendering is not what these tests are about)."""
    with sessions.begin() as session:
        template = session.get(Issue, template_id)
        assert template is not None and template.html is not None
        number = (session.scalar(select(func.max(Issue.number))) or 0) + 1
        issue = Issue(number=number, week=None, subject=f"{template.subject} (#{number})", preheader=template.preheader,
                      status=IssueStatus.DRAFT, html=template.html, text=template.text,
                      rendered_at=template.rendered_at)
        session.add(issue)
        session.flush()
        return issue.id


def expected_messages(sessions: sessionmaker[Session], issue_id: int, domain: str) -> dict[str, str]:
    """Message-ID -> the reader's address, for every active reader the issue was queued for."""
    with sessions() as session:
        rows = session.execute(
            select(Subscriber.id, Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.issue_id == issue_id)
        ).all()
    return {make_message_id(issue_id, sid, domain): email for sid, email in rows}


def delivery_states(sessions: sessionmaker[Session], issue_id: int) -> Counter[str]:
    with sessions() as session:
        rows = session.execute(
            select(Delivery.status, func.count()).where(Delivery.issue_id == issue_id).group_by(Delivery.status)
        )
        return Counter({status.value: n for status, n in rows})


def issue_status(sessions: sessionmaker[Session], issue_id: int) -> IssueStatus:
    with sessions() as session:
        status = session.scalar(select(Issue.status).where(Issue.id == issue_id))
        assert status is not None
        return status


def leased_by(sessions: sessionmaker[Session], pid: int) -> list[tuple[int, int, int]]:
    """(delivery id, issue id, subscriber id) of the rows process ``pid`` holds in `sending`."""
    with sessions() as session:
        return [
            (row.id, row.issue_id, row.subscriber_id)
            for row in session.execute(
                select(Delivery.id, Delivery.issue_id, Delivery.subscriber_id).where(
                    Delivery.status == DeliveryStatus.SENDING, Delivery.lease_owner.contains(f":{pid}:")
                )
            )
        ]
