"""The admin subscriber pages through the real app: the list, search, filter and pages, one
reader's history and deliveries, and the status form."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from newsletter.mail.backends import SendResult, SendStatus
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.issues.compose import compose
from newsletter.delivery.dispatch import Worker
from newsletter.readers.history import record_event
from newsletter.readers.models import Subscriber, SubscriberEvent, SubscriberEventKind, SubscriberStatus
from newsletter.services import Services
from tests.factories import add_article, add_subscribers
from tests.axe import assert_accessible
from tests.browser import LiveSite, browser_log_in, scroll_width
from tests.browser import browser as browser  # noqa: F401  (fixtures)
from tests.browser import site as site  # noqa: F401
from tests.web.admin.test_issues import csrf, log_in


def rows(page: str) -> list[str]:
    """The addresses listed on a list page, in order."""
    return re.findall(r'<a class="email" href="/admin/subscribers/\d+">([^<]+)</a>', page)


def status_of(services: Services, subscriber_id: int) -> SubscriberStatus:
    with services.sessions() as session:
        reader = session.get(Subscriber, subscriber_id)
        assert reader is not None
        return reader.status


def test_the_pages_need_a_login(client: TestClient, services: Services) -> None:
    [sid] = add_subscribers(services.sessions, 1)
    for path in ("/admin/subscribers", f"/admin/subscribers/{sid}", "/admin/subscribers?q=x&status=active"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/admin/login?next=")
    refused = client.post(f"/admin/subscribers/{sid}/status", data={"status": "unsubscribed", "csrf_token": "x"},
                          follow_redirects=False)
    assert refused.status_code == 401
    assert status_of(services, sid) is SubscriberStatus.ACTIVE


def test_list_search_and_filter(client: TestClient, services: Services) -> None:
    add_subscribers(services.sessions, 3)
    add_subscribers(services.sessions, 2, SubscriberStatus.UNSUBSCRIBED, prefix="gone")
    services.subscriptions.add("zoe@example.org", "Zoë Quill")
    log_in(client, "/admin/subscribers")
    page = client.get("/admin/subscribers")
    assert page.status_code == 200
    assert 'href="/admin/subscribers"' in page.text  # the navigation link
    assert 'label for="q"' in page.text and 'label for="status"' in page.text
    assert len(rows(page.text)) == 6 and "1–6 of 6 subscribers" in page.text

    by_name = client.get("/admin/subscribers", params={"q": "quill"})
    assert rows(by_name.text) == ["zoe@example.org"]
    by_address = client.get("/admin/subscribers", params={"q": "GONE1@"})
    assert rows(by_address.text) == ["gone1@example.net"]
    assert 'value="GONE1@"' in by_address.text  # the search box keeps what was typed
    gone = client.get("/admin/subscribers", params={"status": "unsubscribed"})
    assert sorted(rows(gone.text)) == ["gone0@example.net", "gone1@example.net"]
    assert '<option value="unsubscribed" selected>' in gone.text
    both = client.get("/admin/subscribers", params={"q": "zoe", "status": "unsubscribed"})
    assert rows(both.text) == [] and "No subscribers match" in both.text
    # LIKE wildcards are searched for literally, and an unknown status lists everyone.
    assert rows(client.get("/admin/subscribers", params={"q": "%"}).text) == []
    assert len(rows(client.get("/admin/subscribers", params={"status": "nonsense"}).text)) == 6


def test_pages_of_fifty(client: TestClient, services: Services) -> None:
    add_subscribers(services.sessions, 120)
    log_in(client, "/admin/subscribers")
    first = client.get("/admin/subscribers", params={"q": "reader"})
    assert len(rows(first.text)) == 50 and "(page 1 of 3)" in first.text
    assert 'href="/admin/subscribers?q=reader&amp;page=2" rel="next"' in first.text and 'rel="prev"' not in first.text
    last = client.get("/admin/subscribers", params={"q": "reader", "page": 3})
    assert len(rows(last.text)) == 20 and "101–120 of 120" in last.text and 'rel="next"' not in last.text
    seen = set()
    for page in (1, 2, 3):
        seen |= set(rows(client.get("/admin/subscribers", params={"q": "reader", "page": page}).text))
    assert len(seen) == 120
    beyond = client.get("/admin/subscribers", params={"page": 99})
    assert beyond.status_code == 200 and "(page 3 of 3)" in beyond.text
    assert client.get("/admin/subscribers", params={"page": "x"}).status_code == 400


def test_detail_page_shows_events_and_deliveries(client: TestClient, services: Services) -> None:
    sid = services.subscriptions.subscribe("ana@example.net", "Ana").subscriber_id
    services.subscriptions.confirm(sid, "ana@example.net")
    add_article(services.sessions, "Rivers of the North")
    issue_id = compose(services.sessions, services.settings).issue_id
    [bob] = add_subscribers(services.sessions, 1, prefix="bob")
    backend = MemoryBackend(
        services.settings, outcomes={"bob0@example.net": SendResult(SendStatus.BOUNCED, 550, "5.1.1 no such user")}
    )
    services.publisher.queue(issue_id)
    Worker(services.store, backend, services.settings, services.links).run(drain=True)

    log_in(client, f"/admin/subscribers/{sid}")
    page = client.get(f"/admin/subscribers/{sid}").text
    assert 'id="reader-email">ana@example.net<' in page and 'id="reader-status">active' in page
    events = page.split('id="events"')[1].split("</table>")[0]
    assert events.index("confirmed") < events.index("subscribed")  # newest first
    assert "via the web form" in events and "via the confirmation link" in events
    deliveries = page.split('id="deliveries"')[1].split("</table>")[0]
    assert f'href="/admin/issues/{issue_id}"' in deliveries and "sent" in deliveries

    bounced = client.get(f"/admin/subscribers/{bob}").text
    assert "550 5.1.1 no such user" in bounced and "bounced" in bounced
    # The worker records the hard bounce in the reader's history.
    assert "bounced" in bounced.split('id="events"')[1].split("</table>")[0]


def test_status_change_needs_csrf_and_is_recorded(client: TestClient, services: Services) -> None:
    reader, _ = services.subscriptions.add("ana@example.net", "Ana")
    log_in(client, f"/admin/subscribers/{reader.id}")
    for data in ({"status": "unsubscribed"}, {"status": "unsubscribed", "csrf_token": "forged"}):
        refused = client.post(f"/admin/subscribers/{reader.id}/status", data=data)
        assert refused.status_code == 403
    assert status_of(services, reader.id) is SubscriberStatus.ACTIVE

    token = csrf(client, f"/admin/subscribers/{reader.id}")
    done = client.post(f"/admin/subscribers/{reader.id}/status", data={"status": "unsubscribed", "csrf_token": token},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/admin/subscribers/{reader.id}"
    page = client.get(done.headers["location"]).text
    assert "ana@example.net is now unsubscribed." in page
    assert "active -&gt; unsubscribed, set by the editor (admin page)" in page
    assert status_of(services, reader.id) is SubscriberStatus.UNSUBSCRIBED

    wrong = client.post(f"/admin/subscribers/{reader.id}/status", data={"status": "bounced", "csrf_token": token})
    assert wrong.status_code == 200 and "Not changed" in wrong.text
    assert status_of(services, reader.id) is SubscriberStatus.UNSUBSCRIBED
    with services.sessions() as session:
        kinds = list(session.scalars(select(SubscriberEvent.kind).where(SubscriberEvent.subscriber_id == reader.id)))
    assert sorted(kinds) == sorted([SubscriberEventKind.SUBSCRIBED, SubscriberEventKind.STATUS_CHANGED])


def test_suppressed_reader_cannot_be_reactivated(client: TestClient, services: Services) -> None:
    [sid] = add_subscribers(services.sessions, 1, SubscriberStatus.COMPLAINED)
    with services.sessions.begin() as session:
        services.suppression.add(session, ["reader0@example.net"], "complained")
    log_in(client, f"/admin/subscribers/{sid}")
    page = client.get(f"/admin/subscribers/{sid}").text
    assert "suppressed" in page
    token = csrf(client, f"/admin/subscribers/{sid}")
    refused = client.post(f"/admin/subscribers/{sid}/status", data={"status": "active", "csrf_token": token})
    assert "Not changed" in refused.text and "suppression list" in refused.text
    assert status_of(services, sid) is SubscriberStatus.COMPLAINED


def test_unknown_subscriber_is_404(client: TestClient) -> None:
    log_in(client, "/admin/subscribers")
    missing = client.get("/admin/subscribers/999")
    assert missing.status_code == 404 and "No such subscriber" in missing.text
    assert client.get("/admin/subscribers/abc").status_code == 404
    token = csrf(client, "/admin/subscribers")
    posted = client.post("/admin/subscribers/999/status", data={"status": "active", "csrf_token": token})
    assert posted.status_code == 404


def test_names_and_details_are_escaped(client: TestClient, services: Services) -> None:
    evil = "<script>alert(1)</script>"
    with services.sessions.begin() as session:
        reader = Subscriber(email="x@example.org", name=evil, status=SubscriberStatus.ACTIVE)
        session.add(reader)
        session.flush()
        sid = reader.id
        session.add(SubscriberEvent(subscriber_id=sid, kind=SubscriberEventKind.AUTO_REPLY, detail=evil))
    log_in(client, "/admin/subscribers")
    for page in (client.get("/admin/subscribers").text, client.get("/admin/subscribers", params={"q": evil}).text,
                 client.get(f"/admin/subscribers/{sid}").text):
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_add_a_reader_opted_in_or_pending(client: TestClient, services: Services) -> None:
    log_in(client, "/admin/subscribers/new")
    form = client.get("/admin/subscribers/new").text
    assert all(f'label for="{f}"' in form or f'for="{f}"' in form for f in ("email", "name", "opted_in"))
    token = csrf(client, "/admin/subscribers/new")
    done = client.post("/admin/subscribers/new", data={"csrf_token": token, "email": "Ana@Example.org", "name": "Ana",
                                                       "opted_in": "1"}, follow_redirects=False)
    assert done.status_code == 303
    assert "ana@example.org added: active at once." in client.get(done.headers["location"]).text
    pending = client.post("/admin/subscribers/new", data={"csrf_token": token, "email": "bob@example.org"})
    assert "pending until they confirm" in pending.text
    assert [m.recipient for m in services.backend.sent] == ["bob@example.org"]  # type: ignore[attr-defined]
    with services.sessions() as session:
        found = {s.email: s.status for s in session.scalars(select(Subscriber))}
    assert found == {"ana@example.org": SubscriberStatus.ACTIVE, "bob@example.org": SubscriberStatus.PENDING}


def test_add_form_says_what_is_wrong_beside_the_field(client: TestClient, services: Services) -> None:
    services.subscriptions.add("ana@example.org")
    with services.sessions.begin() as session:
        services.suppression.add(session, ["gone@example.org"], "erased")
    log_in(client, "/admin/subscribers/new")
    token = csrf(client, "/admin/subscribers/new")
    for email, message in (("", "Enter the reader&#39;s email address."), ("nobody", "must have an @-sign"),
                           ("ANA@example.org", "ana@example.org is already a subscriber"),
                           ("gone@example.org", "is on the suppression list")):
        answer = client.post("/admin/subscribers/new", data={"csrf_token": token, "email": email, "name": "<script>"})
        assert answer.status_code == 400
        error = answer.text.split('id="email-error">')[1].split("</p>")[0]
        assert message in error, email
        assert 'value="&lt;script&gt;"' in answer.text  # the name typed is kept, escaped
    assert client.post("/admin/subscribers/new", data={"email": "x@example.org"}).status_code == 403


def test_edit_a_reader(client: TestClient, services: Services) -> None:
    [sid, other] = add_subscribers(services.sessions, 2)
    log_in(client, f"/admin/subscribers/{sid}/edit")
    form = client.get(f"/admin/subscribers/{sid}/edit").text
    assert 'value="reader0@example.net"' in form and 'label for="status"' in form
    token = csrf(client, f"/admin/subscribers/{sid}/edit")
    taken = client.post(f"/admin/subscribers/{sid}/edit", data={"csrf_token": token, "email": "reader1@example.net",
                                                                "name": "N", "status": "active"})
    assert taken.status_code == 400 and "reader1@example.net is already a subscriber" in \
        taken.text.split('id="email-error">')[1].split("</p>")[0]
    done = client.post(f"/admin/subscribers/{sid}/edit", data={"csrf_token": token, "email": "new@example.org",
                                                               "name": "New Name", "status": "unsubscribed"})
    assert done.status_code == 200 and "Saved: new@example.org is unsubscribed." in done.text
    assert 'id="reader-name">New Name<' in done.text
    assert "address changed from reader0@example.net to new@example.org" in done.text
    assert status_of(services, sid) is SubscriberStatus.UNSUBSCRIBED and status_of(services, other) is \
        SubscriberStatus.ACTIVE
    assert client.post(f"/admin/subscribers/{sid}/edit", data={"email": "x@example.org"}).status_code == 403


def test_erase_asks_first_then_erases_for_good(client: TestClient, services: Services) -> None:
    [sid] = add_subscribers(services.sessions, 1)
    log_in(client, f"/admin/subscribers/{sid}")
    assert f'href="/admin/subscribers/{sid}/erase"' in client.get(f"/admin/subscribers/{sid}").text
    confirm = client.get(f"/admin/subscribers/{sid}/erase").text
    assert 'id="erase-email">reader0@example.net<' in confirm and "cannot be undone" in confirm
    assert client.post(f"/admin/subscribers/{sid}/erase").status_code == 403
    assert status_of(services, sid) is SubscriberStatus.ACTIVE
    done = client.post(f"/admin/subscribers/{sid}/erase", data={"csrf_token": csrf(client, confirm_path(sid))})
    assert done.status_code == 200 and "reader0@example.net was erased" in done.text
    with services.sessions() as session:
        assert session.get(Subscriber, sid) is None
        assert services.suppression.suppressed(session, ["reader0@example.net"])


def confirm_path(sid: int) -> str:
    return f"/admin/subscribers/{sid}/erase"


def test_export_the_current_search(client: TestClient, services: Services) -> None:
    add_subscribers(services.sessions, 2)
    add_subscribers(services.sessions, 1, SubscriberStatus.UNSUBSCRIBED, prefix="gone")
    log_in(client, "/admin/subscribers")
    page = client.get("/admin/subscribers", params={"status": "unsubscribed"}).text
    href = re.search(r'id="export" href="([^"]+)"', page)
    assert href and href.group(1) == "/admin/subscribers/export.csv?status=unsubscribed"
    export = client.get(href.group(1).replace("&amp;", "&"))
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert [line.split(",")[0] for line in export.text.splitlines()] == ["email", "gone0@example.net"]


@pytest.mark.browser
def test_no_sideways_scrolling_at_320px(site: LiveSite, browser: Browser) -> None:
    sessions = site.services.sessions
    reader, _ = site.services.subscriptions.add("a.very.long.address.for.a.narrow.phone@subdomain.example.org",
                                                "A Reader With Quite A Long Name Indeed")
    add_subscribers(sessions, 60)
    add_article(sessions, "A rather long headline about rivers, mountains and the people who map them")
    issue_id = compose(sessions, site.settings).issue_id
    site.services.publisher.queue(issue_id)
    Worker(site.services.store, site.services.backend, site.settings, site.services.links).run(drain=True)
    with sessions.begin() as session:
        record_event(session, reader.id, SubscriberEventKind.SOFT_BOUNCE,
                     "4.2.2 mailbox full: the recipient's mailbox is over its quota, try again later")
    page = browser.new_page(viewport={"width": 320, "height": 640})
    browser_log_in(page, site, "/admin/subscribers")
    assert scroll_width(page) <= 320
    assert_accessible(page)
    page.get_by_label("Search by address or name").fill("narrow")
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#result-count")).to_contain_text("1–1 of 1 subscriber")
    page.get_by_role("link", name=reader.email).click()
    expect(page.locator("#events")).to_contain_text("mailbox full")
    expect(page.locator("#deliveries")).to_contain_text("rivers, mountains")
    assert scroll_width(page) <= 320
    assert_accessible(page)
    page.get_by_label("New status").select_option("unsubscribed")
    page.get_by_role("button", name="Set status").click()
    expect(page.locator("#reader-status")).to_have_text("unsubscribed")
    assert scroll_width(page) <= 320
