"""The issue page's schedule section through the real app: schedule, unschedule, approve, next send."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import time_machine
from fastapi.testclient import TestClient

from newsletter.schedule.cycle import CycleRunner
from newsletter.issues.compose import compose
from newsletter.schedule.weekly import update_schedule
from newsletter.issues.models import Issue, IssueStatus
from newsletter.schedule.models import WeeklyCycle
from newsletter.services import Services
from newsletter.web.admin.schedule import next_send
from tests.factories import add_article
from tests.web.admin.test_issues import add_articles, csrf, log_in

COMPOSE = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)  # 2026-W48's compose time (the defaults)


@pytest.fixture
def issue_id(services: Services) -> int:
    """A draft composed by hand (no weekly cycle row)."""
    add_articles(services)
    return compose(services.sessions, services.settings).issue_id


def issue_state(services: Services, issue_id: int) -> tuple[IssueStatus, datetime | None, datetime | None]:
    with services.sessions() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        return issue.status, issue.scheduled_at, issue.approved_at


def post(client: TestClient, issue_id: int, action: str, **data: str):
    token = csrf(client, f"/admin/issues/{issue_id}")
    return client.post(f"/admin/issues/{issue_id}/{action}", data={"csrf_token": token, **data})


def test_draft_page_has_the_schedule_form(client: TestClient, issue_id: int) -> None:
    log_in(client)
    page = client.get(f"/admin/issues/{issue_id}").text
    assert '<label for="send_at">Send at</label>' in page
    assert "in Europe/London" in page
    assert '<label for="time_zone">Time zone' in page
    assert f'action="/admin/issues/{issue_id}/schedule"' in page
    assert "Approve for sending" not in page  # auto mode, composed by hand


@pytest.mark.parametrize(("send_at", "zone", "expected"), [
    ("2099-07-01 09:30", "", datetime(2099, 7, 1, 8, 30, tzinfo=timezone.utc)),  # the list's zone, BST
    ("2099-01-15 07:00", "America/New_York", datetime(2099, 1, 15, 12, 0, tzinfo=timezone.utc)),
])
def test_schedule_then_unschedule(
    client: TestClient, services: Services, issue_id: int, send_at: str, zone: str, expected: datetime
) -> None:
    log_in(client)
    response = post(client, issue_id, "schedule", send_at=send_at, time_zone=zone)
    assert response.status_code == 200
    assert f"Scheduled for {expected:%Y-%m-%d %H:%M} UTC" in response.text
    assert issue_state(services, issue_id)[:2] == (IssueStatus.SCHEDULED, expected)
    assert "scheduled" in response.text
    assert f"({expected:%Y-%m-%d %H:%M} UTC)" in response.text  # the time in UTC next to the local one
    assert f'action="/admin/issues/{issue_id}/unschedule"' in response.text
    assert 'id="send_at"' not in response.text

    response = post(client, issue_id, "unschedule")
    assert "Unscheduled" in response.text
    assert issue_state(services, issue_id)[:2] == (IssueStatus.DRAFT, None)
    assert 'id="send_at"' in response.text


def test_scheduled_time_shown_in_the_lists_zone(client: TestClient, issue_id: int) -> None:
    log_in(client)
    page = post(client, issue_id, "schedule", send_at="2099-07-01 09:30").text
    assert "2099-07-01 09:30 BST" in page and "2099-07-01 08:30 UTC" in page


@pytest.mark.parametrize(("send_at", "zone", "error"), [
    ("next friday", "", "expected YYYY-MM-DD HH:MM"),
    ("2099-13-01 09:00", "", "expected YYYY-MM-DD HH:MM"),
    ("2001-01-01 09:00", "", "is in the past"),
    ("2099-07-01 09:30", "Mars/Olympus_Mons", "unknown time zone"),
    ("", "", "expected YYYY-MM-DD HH:MM"),
])
def test_bad_input_is_a_flash_error_and_changes_nothing(
    client: TestClient, services: Services, issue_id: int, send_at: str, zone: str, error: str
) -> None:
    log_in(client)
    response = post(client, issue_id, "schedule", send_at=send_at, time_zone=zone)
    assert response.status_code == 200
    assert 'class="message error"' in response.text
    assert "Not scheduled:" in response.text and error in response.text
    assert issue_state(services, issue_id)[:2] == (IssueStatus.DRAFT, None)


def test_unschedule_a_draft_is_a_flash_error(client: TestClient, issue_id: int) -> None:
    log_in(client)
    response = post(client, issue_id, "unschedule")
    assert "Not unscheduled:" in response.text and "it is draft" in response.text


def test_approve_a_weekly_draft(client: TestClient, services: Services) -> None:
    update_schedule(services.sessions, services.settings, mode="approve")
    add_article(services.sessions, "A piece", datetime(2026, 11, 25, tzinfo=timezone.utc))
    with time_machine.travel(COMPOSE, tick=False):
        CycleRunner(services).tick(COMPOSE)
    with services.sessions() as session:
        cycle = session.get(WeeklyCycle, (1, "2026-W48"))
        assert cycle is not None and cycle.issue_id is not None
        issue_id = cycle.issue_id

    log_in(client)
    page = client.get(f"/admin/issues/{issue_id}").text
    assert "Approve for sending" in page and f'action="/admin/issues/{issue_id}/approve"' in page

    response = post(client, issue_id, "approve")
    assert "Approved: 2026-W48" in response.text
    status, _, approved_at = issue_state(services, issue_id)
    assert status is IssueStatus.DRAFT and approved_at is not None
    assert "Approved at " in response.text
    assert "Approve for sending" not in response.text

    # Approving twice is the editor's to read, not a 500.
    token = csrf(client, f"/admin/issues/{issue_id}")
    again = client.post(f"/admin/issues/{issue_id}/approve", data={"csrf_token": token})
    assert "Not approved:" in again.text and "not awaiting approval" in again.text


def test_approve_an_issue_outside_the_cycle_is_a_flash_error(
    client: TestClient, services: Services, issue_id: int
) -> None:
    update_schedule(services.sessions, services.settings, mode="approve")
    log_in(client)
    assert "Approve for sending" in client.get(f"/admin/issues/{issue_id}").text  # approve mode, a draft
    response = post(client, issue_id, "approve")
    assert "Not approved:" in response.text
    assert issue_state(services, issue_id)[2] is None


@pytest.mark.parametrize("action", ["schedule", "unschedule", "approve"])
def test_posts_without_csrf_are_refused(client: TestClient, services: Services, issue_id: int, action: str) -> None:
    log_in(client)
    response = client.post(f"/admin/issues/{issue_id}/{action}", data={"send_at": "2099-07-01 09:30"},
                           follow_redirects=False)
    assert response.status_code == 403
    response = client.post(f"/admin/issues/{issue_id}/{action}", data={"csrf_token": "forged",
                           "send_at": "2099-07-01 09:30"}, follow_redirects=False)
    assert response.status_code == 403
    assert issue_state(services, issue_id) == (IssueStatus.DRAFT, None, None)


def test_issues_list_shows_the_next_weekly_send(client: TestClient, services: Services) -> None:
    log_in(client)
    page = client.get("/admin/issues").text
    assert 'id="next-send">Next weekly send: ' in page and "mode auto." in page
    assert next_send(services, COMPOSE) == "Next weekly send: Sat 28 Nov 2026 07:00 GMT (07:00 UTC), mode auto."
    update_schedule(services.sessions, services.settings, send="sun 09:00", time_zone="America/New_York")
    assert next_send(services, COMPOSE) == "Next weekly send: Sun 29 Nov 2026 09:00 EST (14:00 UTC), mode auto."
