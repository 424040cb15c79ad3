"""The owner can lift a suppression, from the command line, the admin page or the API: a bounced
or complained reader is mailed again, an unsubscribed one stays unsubscribed, an address with no
reader is only taken off the list; each lift is in the reader's history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.config import Settings
from newsletter.delivery.dispatch import Worker
from newsletter.inbound.handler import InboundHandler
from newsletter.issues.models import Issue
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.readers.models import Subscriber, SubscriberEvent, SubscriberEventKind, SubscriberStatus
from newsletter.readers.subscriptions import SubscribeOutcome
from newsletter.services import Services
from tests.cli_runner import Run, make_run
from tests.factories import mail_an_issue
from tests.inbound.test_report_proof import _arf, _dsn
from tests.web.admin.test_issues import csrf, log_in
from tests.workers import copy_issue

ANA = "ana@example.net"


def _bounced(services: Services, *addresses: str, complaint: bool = False) -> None:
    """Mailed an issue, then a report to each delivery's VERP address: bounced (or complained)
    and suppressed, as a real report would leave them."""
    sent = mail_an_issue(services, *addresses)
    handler = InboundHandler(services)
    for address in addresses:
        report = _arf(address) if complaint else _dsn(address)
        handler.handle("", [sent[address].sender], report)
    with services.sessions() as session:
        assert services.suppression.suppressed(session, addresses) == set(addresses)


def _reader(services: Services, address: str = ANA) -> tuple[int, SubscriberStatus, bool, list[SubscriberEventKind]]:
    with services.sessions() as session:
        reader = session.scalar(select(Subscriber).where(Subscriber.email == address))
        assert reader is not None
        kinds = list(session.scalars(select(SubscriberEvent.kind).where(SubscriberEvent.subscriber_id == reader.id)
                                     .order_by(SubscriberEvent.id)))
        return reader.id, reader.status, bool(services.suppression.suppressed(session, [address])), kinds


def _gets_the_next_issue(services: Services, address: str = ANA) -> bool:
    """Whether the next issue is sent to `address` (claimed by a worker, handed to the backend)."""
    backend = services.backend
    assert isinstance(backend, MemoryBackend)
    backend.clear()
    with services.sessions() as session:
        last = session.scalar(select(func.max(Issue.id)))
    assert last is not None
    issue = copy_issue(services.sessions, last)  # a new issue with the last one's rendered body
    services.publisher.queue(issue, force=True)
    Worker(services.store, backend, services.settings, services.links).run(drain=True)
    return address in {m.recipient for m in backend.sent}


def _cli(settings: Settings, tmp_path: Path) -> Run:
    """The `newsletter` command on the services' database, with their secret key (the keyed hashes
    of the suppression list depend on it)."""
    home = tmp_path / "cli"
    (home / "var").mkdir(parents=True)
    (home / "var" / "secret_key").write_text(settings.secret_key + "\n")
    return make_run(home, settings.database)


def test_unsuppress_from_the_command_line(services: Services, settings: Settings, tmp_path: Path) -> None:
    _bounced(services, ANA)
    assert not _gets_the_next_issue(services)
    run = _cli(settings, tmp_path)
    lifted = json.loads(run("subscribers", "unsuppress", "Ana@Example.net", "--json").stdout)
    sid, status, suppressed, kinds = _reader(services)
    assert lifted == {"email": ANA, "unsuppressed": True, "reason": "bounced", "subscriber_id": sid,
                      "previous_status": "bounced", "status": "active"}
    assert (status, suppressed, kinds[-1]) == (SubscriberStatus.ACTIVE, False, SubscriberEventKind.UNSUPPRESSED)
    shown = json.loads(run("subscribers", "show", ANA, "--json").stdout)
    assert shown["history"][0]["kind"] == "unsuppressed" and "command line" in shown["history"][0]["detail"]
    assert _gets_the_next_issue(services)

    again = run("subscribers", "unsuppress", ANA, ok=False)
    assert again.returncode == 1 and "not on the suppression list" in again.stderr
    text = run("subscribers", "unsuppress", "nobody@example.net", ok=False)
    assert text.returncode == 1 and "not on the suppression list" in text.stderr


def test_an_unsubscribed_reader_stays_unsubscribed_and_an_erased_address_is_only_taken_off(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    _bounced(services, ANA)
    services.subscriptions.set_status(_reader(services)[0], SubscriberStatus.UNSUBSCRIBED, by="the test")
    run = _cli(settings, tmp_path)
    lifted = json.loads(run("subscribers", "unsuppress", ANA, "--json").stdout)
    assert (lifted["previous_status"], lifted["status"]) == ("unsubscribed", "unsubscribed")
    assert _reader(services)[1:3] == (SubscriberStatus.UNSUBSCRIBED, False)
    assert not _gets_the_next_issue(services)

    services.subscriptions.erase("gone@example.net")  # no reader; only its keyed hash is listed
    text = run("subscribers", "unsuppress", "gone@example.net").stdout
    assert "taken off the suppression list (was erased); no reader has this address" in text
    assert services.subscriptions.subscribe("gone@example.net").outcome is SubscribeOutcome.CONFIRMATION_SENT


def test_a_pending_reader_whose_confirmation_bounced_can_sign_up_again(services: Services) -> None:
    from newsletter.readers.suppression import unsuppress

    services.subscriptions.subscribe(ANA)
    backend = services.backend
    assert isinstance(backend, MemoryBackend)
    [confirmation] = backend.sent
    handler = InboundHandler(services)
    handler.handle("", ["bounces@example.org"], _dsn(ANA, original=confirmation.data.partition(b"\r\n\r\n")[0]
                                                       .decode()))
    assert _reader(services)[1:3] == (SubscriberStatus.BOUNCED, True)
    assert services.subscriptions.subscribe(ANA).outcome is SubscribeOutcome.SUPPRESSED  # sends nothing
    lifted = unsuppress(services.sessions, services.suppression, email=ANA, by="the test")
    assert lifted.status is SubscriberStatus.PENDING  # never confirmed: the owner's word is no opt-in
    backend.clear()
    assert services.subscriptions.subscribe(ANA).outcome is SubscribeOutcome.CONFIRMATION_SENT
    assert [m.recipient for m in backend.sent] == [ANA]


def test_the_admin_button_lifts_it(client: TestClient, services: Services) -> None:
    _bounced(services, ANA, complaint=True)
    sid, status, suppressed, _ = _reader(services)
    assert (status, suppressed) == (SubscriberStatus.COMPLAINED, True)
    page = f"/admin/subscribers/{sid}"
    log_in(client, page)
    assert 'action="/admin/subscribers/%d/unsuppress"' % sid in client.get(page).text
    for data in ({}, {"csrf_token": "forged"}):
        refused = client.post(f"{page}/unsuppress", data=data, follow_redirects=False)
        assert refused.status_code in (400, 403)
    assert _reader(services)[1:3] == (SubscriberStatus.COMPLAINED, True)

    done = client.post(f"{page}/unsuppress", data={"csrf_token": csrf(client, page)})
    assert done.status_code == 200 and "off the suppression list" in done.text
    _, status, suppressed, kinds = _reader(services)
    assert (status, suppressed, kinds[-1]) == (SubscriberStatus.ACTIVE, False, SubscriberEventKind.UNSUPPRESSED)
    assert "unsuppressed" in done.text and "admin page" in done.text  # the history on the page
    assert "Lift the suppression" not in done.text
    assert _gets_the_next_issue(services)
    again = client.post(f"{page}/unsuppress", data={"csrf_token": csrf(client, page)})
    assert "Not changed" in again.text and "not on the suppression list" in again.text


@pytest.fixture
def api(client: TestClient, services: Services) -> TestClient:
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
    return client


def test_the_api_lifts_it_by_id_or_by_address(api: TestClient, services: Services) -> None:
    _bounced(services, ANA, "bob@example.net")
    sid = _reader(services)[0]
    lifted = api.post(f"/api/v1/subscribers/{sid}/unsuppress")
    assert lifted.status_code == 200, lifted.text
    assert lifted.json() == {"email": ANA, "unsuppressed": True, "reason": "bounced", "subscriber_id": sid,
                             "previous_status": "bounced", "status": "active"}
    history = api.get(f"/api/v1/subscribers/{sid}").json()["history"]
    assert history[0]["kind"] == "unsuppressed" and "API" in history[0]["detail"]
    assert api.post(f"/api/v1/subscribers/{sid}/unsuppress").status_code == 404  # no longer suppressed
    assert api.post("/api/v1/subscribers/999999/unsuppress").status_code == 404

    by_address = api.post("/api/v1/subscribers/unsuppress", json={"email": "bob@example.net"})
    assert by_address.status_code == 200 and by_address.json()["status"] == "active"
    services.subscriptions.erase("gone@example.net")
    gone = api.post("/api/v1/subscribers/unsuppress", json={"email": "gone@example.net"})
    assert gone.status_code == 200 and gone.json()["subscriber_id"] is None and gone.json()["reason"] == "erased"
    assert api.post("/api/v1/subscribers", json={"email": "gone@example.net", "confirmed": True}).status_code == 201
    missing = api.post("/api/v1/subscribers/unsuppress", json={"email": "nobody@example.net"})
    assert missing.status_code == 404 and "not on the suppression list" in missing.json()["error"]
    assert _gets_the_next_issue(services) and _gets_the_next_issue(services, "bob@example.net")

    del api.headers["Authorization"]
    assert api.post(f"/api/v1/subscribers/{sid}/unsuppress").status_code == 401
