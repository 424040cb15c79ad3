"""Figures per issue: outcomes of a real send, and who left or complained because of which issue."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine
from jinja2 import Environment, FileSystemLoader
from sqlalchemy import select

from newsletter.mail.backends import SendResult, SendStatus
from newsletter.cli.figures import figures_text
from newsletter.issues.compose import Week, compose
from newsletter.config import shipped_templates
from newsletter.delivery.dispatch import Worker
from newsletter.issues.figures import IssueFigures, issue_figures
from newsletter.readers.history import record_event
from newsletter.inbound.handler import InboundHandler
from newsletter.delivery.models import Delivery
from newsletter.readers.models import SubscriberEvent, SubscriberEventKind
from newsletter.services import Services
from tests.cli_runner import make_run
from tests.clock import real_time
from tests.factories import add_article, add_subscribers
from tests.mail.test_verp import _dsn

WEEK_A, WEEK_B = "2026-W02", "2026-W03"


def _issue(services: Services, week: str) -> int:
    monday = datetime.fromisocalendar(int(week[:4]), int(week[-2:]), 1).replace(hour=12, tzinfo=timezone.utc)
    add_article(services.sessions, f"The story of {week}", published_at=monday)
    return compose(services.sessions, services.settings, Week.parse(week)).issue_id


def _send(services: Services, issue_id: int) -> None:
    services.publisher.queue(issue_id)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)


def _complain(services: Services, subscriber_id: int, at: datetime | None = None) -> None:
    with services.sessions.begin() as session:
        if at is None:
            record_event(session, subscriber_id, SubscriberEventKind.COMPLAINED, "abuse report (test)")
        else:
            session.add(SubscriberEvent(subscriber_id=subscriber_id, kind=SubscriberEventKind.COMPLAINED,
                                        detail="abuse report (test)", created_at=at))


@pytest.fixture
def host_clock() -> Iterator[None]:
    """sent_at is the database's time, the events this process's: both on the host's clock
    (NEWSLETTER_TEST_CLOCK moves only Python's)."""
    with time_machine.travel(datetime.fromtimestamp(real_time(), timezone.utc), tick=True):
        time.time()  # time-machine's ticking starts at the first read, not at travel()
        yield


@pytest.mark.usefixtures("host_clock")
def test_figures_of_a_real_send_and_who_left_after_which_issue(services: Services, tmp_path: Path) -> None:
    r = add_subscribers(services.sessions, 6)
    services.backend.outcomes.update({  # type: ignore[attr-defined]
        "reader1@example.net": SendResult(SendStatus.BOUNCED, 550, "5.1.1 no such user"),
        "reader2@example.net": SendResult(SendStatus.DEFERRED, 451, "4.2.1 mailbox busy"),  # not a throttle: no pacing
    })
    a = _issue(services, WEEK_A)
    _send(services, a)
    services.subscriptions.unsubscribe(r[0])  # after issue A: A's
    _complain(services, r[3])  # after A, before B: A's, although r3 is sent B too

    b = _issue(services, WEEK_B)
    _send(services, b)
    services.subscriptions.unsubscribe(r[4])  # got both A and B: B's, not A's
    with services.sessions() as session:
        b_sent = session.scalar(select(Delivery.sent_at).where(Delivery.issue_id == b, Delivery.subscriber_id == r[5]))
    assert b_sent is not None
    _complain(services, r[5], at=b_sent + timedelta(days=31))  # too long after any issue: nobody's
    _complain(services, r[3], at=b_sent + timedelta(days=29))  # within 30 days of B: B's
    _complain(services, r[2])  # deferred both times, never actually sent anything: nobody's

    fa, fb = issue_figures(services.sessions, a), issue_figures(services.sessions, b)
    assert fa == IssueFigures(a, recipients=6, sent=4, deferred=1, bounced=1, failed=0, skipped=0,
                              complaints=1, unsubscribes=1, opens=None, unique_opens=None, clicks=None,
                              unique_clicks=None)
    # B went to the readers still active: r2 (deferred on A, still subscribed), r3, r4, r5.
    assert (fb.recipients, fb.sent, fb.deferred, fb.bounced) == (4, 3, 1, 0)
    assert (fb.unsubscribes, fb.complaints) == (1, 1)
    assert not fb.tracked

    text = figures_text(fb)
    assert "4 recipients" in text and "unsubscribes 1" in text and "not tracked" in text
    if services.engine.dialect.name != "sqlite":
        return  # the command runs the same queries; once is enough (a subprocess takes seconds)
    # The same figures from the command line, with the field names as --json keys.
    run = make_run(tmp_path, services.settings.database)
    shown = json.loads(run("issues", "figures", str(a), "--json").stdout)
    assert shown == {**fa.as_dict(), "ab": None}  # "ab": the A/B subject test, none here
    assert set(shown) == {*IssueFigures.__dataclass_fields__, "ab"}
    missing = run("issues", "figures", "999", ok=False)
    assert missing.returncode == 1 and "there is no issue 999" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_bounce_after_sending_moves_the_delivery_from_sent_to_bounced(services: Services) -> None:
    add_subscribers(services.sessions, 2)
    a = _issue(services, WEEK_A)
    _send(services, a)
    assert issue_figures(services.sessions, a).sent == 2
    senders = {m.recipient: m.sender for m in services.backend.sent}  # type: ignore[attr-defined]
    # The relay took it; the reader's server refused it later and reported to the VERP address.
    InboundHandler(services).handle("", [senders["reader1@example.net"]], _dsn("reader1@example.net"))
    figures = issue_figures(services.sessions, a)
    assert (figures.recipients, figures.sent, figures.bounced) == (2, 1, 1)


def test_figures_of_an_issue_not_sent_yet(services: Services) -> None:
    add_subscribers(services.sessions, 2)
    a = _issue(services, WEEK_A)
    figures = issue_figures(services.sessions, a)
    assert (figures.recipients, figures.sent, figures.unsubscribes, figures.opens) == (0, 0, 0, None)


def test_the_figures_partial_shows_opens_and_clicks_only_for_tracked_issues() -> None:
    env = Environment(loader=FileSystemLoader(shipped_templates() / "web"), autoescape=True)
    partial = env.get_template("_issue_figures.html")
    untracked = IssueFigures(1, 10, 7, 1, 1, 1, 0, 1, 2, None, None, None, None)
    page = partial.render(figures=untracked)
    assert '<dd id="figure-sent">7</dd>' in page and '<dd id="figure-unsubscribes">2</dd>' in page
    assert "Opens</dt>" not in page and "Clicks</dt>" not in page and "not tracked" in page
    tracked = partial.render(figures=IssueFigures(1, 10, 7, 1, 1, 1, 0, 1, 2, 9, 5, 3, 1))
    assert "Opens</dt>" in tracked and "5 readers" in tracked and "(9 in all)" in tracked
    assert "1 reader " in tracked and "(3 in all)" in tracked
