"""Sending from the issue page through the real app: a confirmation step naming the audience, the
progress as JSON for editor.js, and the issue locked once sent ("Sent to N readers on DATE")."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from newsletter.delivery.dispatch import Worker
from newsletter.issues.editor import load_issue
from newsletter.issues.listing import issue_detail
from newsletter.services import Services
from tests.factories import add_subscribers
from tests.issues.test_preflight import make_issue
from tests.web.admin.test_issues import csrf, deliveries, issue_id, log_in  # noqa: F401  (issue_id: fixture)

# Preflight is not what these tests are about (test_preflight_in_the_writers_words is): its verdict
# on the fixture's issue must not decide whether they can send.
FORCE = {"force": "1"}


def send_form(page: str) -> bool:
    return re.search(r'<form method="post" action="/admin/issues/\d+/send"', page) is not None


@pytest.mark.parametrize(("readers", "audience"), [(1, "1 reader"), (4, "4 readers")])
def test_send_asks_first_naming_the_audience(
    client: TestClient, services: Services, issue_id: int, readers: int, audience: str  # noqa: F811
) -> None:
    add_subscribers(services.sessions, readers)
    log_in(client)
    page = client.get(f"/admin/issues/{issue_id}").text
    # One click on the issue page sends nothing: it leads to the question.
    assert not send_form(page)
    assert f'href="/admin/issues/{issue_id}/send">Send to {audience}…</a>' in page
    assert "1 readers" not in page

    subject = load_issue(services.sessions, issue_id).subject
    question = client.get(f"/admin/issues/{issue_id}/send")
    assert question.status_code == 200
    assert f"Send “{subject}” to <strong>{audience}</strong> now?" in question.text
    assert send_form(question.text) and f"Send to {audience} now</button>" in question.text
    assert f'href="/admin/issues/{issue_id}">Back to the issue</a>' in question.text
    assert deliveries(services, issue_id) == 0  # asking sent nothing

    token = csrf(client, f"/admin/issues/{issue_id}/send")
    done = client.post(f"/admin/issues/{issue_id}/send", data={"csrf_token": token, **FORCE})
    assert f"Queued {readers} deliver" in done.text
    assert deliveries(services, issue_id) == readers


def test_nobody_to_send_to_offers_no_button(client: TestClient, issue_id: int) -> None:  # noqa: F811
    log_in(client)
    question = client.get(f"/admin/issues/{issue_id}/send").text
    assert "There is no active subscriber" in question and not send_form(question)


def test_a_sent_issue_is_locked_with_one_line(client: TestClient, services: Services, issue_id: int) -> None:  # noqa: F811
    add_subscribers(services.sessions, 4)
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}/send")
    client.post(f"/admin/issues/{issue_id}/send", data={"csrf_token": token, **FORCE})

    sending = client.get(f"/admin/issues/{issue_id}").text
    assert f'data-poll="/admin/issues/{issue_id}/progress"' in sending  # editor.js follows the send
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in sending  # and without it, reloads
    assert "No errors: this issue can be sent." not in sending and "Send to 4 readers" not in sending
    progress = client.get(f"/admin/issues/{issue_id}/progress").json()
    assert (progress["status"], progress["done"], progress["total"], progress["queued"]) == ("sending", 0, 4, 4)

    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    progress = client.get(f"/admin/issues/{issue_id}/progress").json()
    assert (progress["status"], progress["done"], progress["sent"]) == ("sent", 4, 4)

    page = client.get(f"/admin/issues/{issue_id}").text
    detail = issue_detail(services.sessions, issue_id)
    assert detail is not None and detail.row.sent_at is not None
    when = detail.row.sent_at.astimezone(ZoneInfo("Europe/London")).strftime("%d %B %Y at %H:%M %Z")
    assert f'<p id="sent-line">Sent to 4 readers on {when}.</p>' in page
    # Locked: no edit form, no send, no schedule, no preflight verdict; no more polling.
    assert 'id="edit-form"' not in page and not send_form(page) and 'id="send-link"' not in page
    assert f'action="/admin/issues/{issue_id}/schedule"' not in page and "<h2>Schedule</h2>" not in page
    assert "No errors: this issue can be sent." not in page and "<h2>Preflight</h2>" not in page
    assert "data-poll" not in page and "http-equiv" not in page

    # The question is not asked again: an issue is sent once.
    again = client.get(f"/admin/issues/{issue_id}/send")
    assert "Not sent: this issue is sent; an issue is sent once." in again.text
    assert deliveries(services, issue_id) == 4


def test_progress_needs_a_login_and_a_real_issue(client: TestClient, issue_id: int) -> None:  # noqa: F811
    assert client.get(f"/admin/issues/{issue_id}/progress", follow_redirects=False).status_code == 303
    log_in(client)
    assert client.get("/admin/issues/999/progress").status_code == 404
    assert client.get("/admin/issues/999/send").status_code == 404


def test_preflight_in_the_writers_words(client: TestClient, services: Services) -> None:
    issue = make_issue(services, {"url": "javascript:alert(1)"})
    add_subscribers(services.sessions, 2)
    log_in(client)
    page = client.get(f"/admin/issues/{issue}").text
    errors = re.search(r'id="preflight-errors">(.*?)</ul>', page, re.S)
    assert errors is not None
    assert '<span class="finding-title">Some links will not open</span>' in errors.group(1)
    # The code and the raw message are folded away, not the first thing the writer reads.
    assert re.search(r"<details><summary>Technical detail</summary><code>link-scheme</code> links with a scheme",
                     errors.group(1))
    assert '<span class="finding-title">Protect your domain from forgery</span>' in page  # dns-dmarc
    # The confirmation names the error too, and sends only when told to send anyway.
    question = client.get(f"/admin/issues/{issue}/send").text
    assert "Some links will not open" in question and 'name="force"' in question
    token = csrf(client, f"/admin/issues/{issue}/send")
    assert "failed preflight" in client.post(f"/admin/issues/{issue}/send", data={"csrf_token": token}).text
    client.post(f"/admin/issues/{issue}/send", data={"csrf_token": token, "force": "1"})
    assert deliveries(services, issue) == 2


def test_reorder_by_posting_the_whole_order(client: TestClient, services: Services) -> None:
    issue = make_issue(services, {}, {}, {})
    first = [a.id for a in load_issue(services.sessions, issue).articles]
    log_in(client)
    page = client.get(f"/admin/issues/{issue}").text
    assert f'name="article_ids" value="{",".join(map(str, first))}"' in page  # the form editor.js posts
    token = csrf(client, f"/admin/issues/{issue}")
    wanted = [first[2], first[0], first[1]]
    done = client.post(f"/admin/issues/{issue}/articles/order",
                       data={"csrf_token": token, "article_ids": ",".join(map(str, wanted))})
    assert "Articles reordered." in done.text
    assert [a.id for a in load_issue(services.sessions, issue).articles] == wanted

    # A stale page (an article removed since) or junk changes nothing.
    for stale in (f"{first[0]},{first[1]}", "1,x", f"{first[0]},{first[1]},{first[2]},{first[2]}"):
        refused = client.post(f"/admin/issues/{issue}/articles/order", data={"csrf_token": token, "article_ids": stale})
        assert "Not changed:" in refused.text
    assert [a.id for a in load_issue(services.sessions, issue).articles] == wanted
    assert client.post(f"/admin/issues/{issue}/articles/order", data={"article_ids": "1"}).status_code == 403


def test_one_off_schedule_picks_the_zone_from_a_list(client: TestClient, issue_id: int) -> None:  # noqa: F811
    log_in(client)
    page = client.get(f"/admin/issues/{issue_id}").text
    assert '<select id="time_zone" name="time_zone"' in page
    assert "<option selected>Europe/London</option>" in page  # the list's zone by default
    assert '<optgroup label="America">' in page and "<option>America/New_York</option>" in page
    assert 'id="send_at" name="send_at" type="datetime-local"' in page
