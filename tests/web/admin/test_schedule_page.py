"""The weekly schedule's page (/admin/schedule) through the real app: the cycle as stored, saved from
the form through the same service as `newsletter schedule set`, and its next runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import time_machine
from fastapi.testclient import TestClient

from newsletter.schedule.models import ScheduleMode
from newsletter.schedule.weekly import Schedule, load_schedule
from newsletter.services import Services
from tests.web.admin.test_issues import csrf, log_in

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=timezone.utc)  # Friday 27 Nov 2026, 15:00 GMT
DEFAULTS = Schedule("fri", "16:00", "sat", "07:00", "Europe/London", ScheduleMode.AUTO)
NEW = {"compose_day": "thu", "compose_time": "09:00", "send_day": "fri", "send_time": "08:30",
       "time_zone": "America/New_York", "mode": "approve"}


def runs(page: str) -> list[tuple[str, str, str]]:
    table = re.search(r'<table class="runs".*?</table>', page, re.S)
    assert table, "no next runs on the page"
    return re.findall(r"<tr><td>(\w+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", table.group(0))


@pytest.fixture
def now() -> Iterator[datetime]:
    """The whole test at NOW (logging in too: a session must not look older than the clock)."""
    with time_machine.travel(NOW, tick=False):
        yield NOW


def test_settings_link_leads_to_the_schedule(client: TestClient, now: datetime) -> None:
    log_in(client)
    assert 'href="/admin/schedule"' in client.get("/admin/settings").text
    page = client.get("/admin/issues").text
    assert '<a href="/admin/schedule">Schedule</a>' in page  # in the admin navigation
    schedule = client.get("/admin/schedule")
    assert schedule.status_code == 200
    text = schedule.text
    assert '<option value="fri" selected>Friday</option>' in text and '<option value="sat" selected>Saturday</option>' in text
    assert 'id="compose_time" name="compose_time" type="time" value="16:00"' in text
    assert "<option selected>Europe/London</option>" in text and '<optgroup label="Asia">' in text
    assert 'id="mode-auto" name="mode" value="auto" checked' in text
    assert runs(text)[:3] == [("Compose", "Fri 27 Nov 2026 16:00 GMT", "Fri 16:00"),
                              ("Send", "Sat 28 Nov 2026 07:00 GMT", "Sat 07:00"),
                              ("Compose", "Fri 04 Dec 2026 16:00 GMT", "Fri 16:00")]


def test_save_a_new_weekly_cycle(client: TestClient, services: Services, now: datetime) -> None:
    log_in(client)
    token = csrf(client, "/admin/schedule")
    saved = client.post("/admin/schedule", data={"csrf_token": token, **NEW}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/schedule"
    assert load_schedule(services.sessions, services.settings) == Schedule(
        "thu", "09:00", "fri", "08:30", "America/New_York", ScheduleMode.APPROVE)
    page = client.get("/admin/schedule").text
    assert "Saved: composed Thursday 09:00, sent Friday 08:30 (America/New_York)." in page
    assert "<option selected>America/New_York</option>" in page and 'value="approve" checked' in page
    # 15:00 UTC on Friday is 10:00 in New York: this week's send (08:30) has passed.
    assert runs(page)[:2] == [("Compose", "Thu 03 Dec 2026 09:00 EST", "Thu 14:00"),
                              ("Send", "Fri 04 Dec 2026 08:30 EST", "Fri 13:30")]


@pytest.mark.parametrize(("change", "said"), [
    ({"send_day": "mon"}, "Not saved: the send time (mon 08:30) comes before the compose time (thu 09:00)"),
    ({"time_zone": "Mars/Olympus"}, "Not saved: unknown time zone &#39;Mars/Olympus&#39;"),
    ({"compose_time": "25:00"}, "Not saved: unknown time &#39;25:00&#39;"),
    ({"mode": "whenever"}, "Not saved: unknown mode &#39;whenever&#39;"),
])
def test_invalid_input_is_said_and_changes_nothing(
    client: TestClient, services: Services, change: dict[str, str], said: str
) -> None:
    log_in(client)
    token = csrf(client, "/admin/schedule")
    refused = client.post("/admin/schedule", data={"csrf_token": token, **NEW, **change})
    assert refused.status_code == 400
    assert said in refused.text
    assert load_schedule(services.sessions, services.settings) == DEFAULTS
    assert 'id="send_time" name="send_time" type="time" value="08:30"' in refused.text  # what was typed stays


def test_saving_needs_a_login_and_the_csrf_token(client: TestClient, services: Services) -> None:
    assert client.get("/admin/schedule", follow_redirects=False).status_code == 303
    assert client.post("/admin/schedule", data=NEW, follow_redirects=False).status_code == 401
    log_in(client)
    assert client.post("/admin/schedule", data={"csrf_token": "forged", **NEW}).status_code == 403
    assert load_schedule(services.sessions, services.settings) == DEFAULTS


def test_each_list_has_its_schedule_on_the_page_and_saving_changes_only_its_own(
    client: TestClient, services: Services, now: datetime
) -> None:
    from newsletter.lists.catalog import create_list
    from newsletter.schedule.weekly import cycle_lists

    b = create_list(services.sessions, "Tech Notes")
    log_in(client)
    first = client.get("/admin/schedule").text
    assert 'id="list-select"' in first and '<option value="tech-notes">Tech Notes</option>' in first
    page = client.get("/admin/schedule?list=tech-notes").text
    assert "Weekly schedule of Tech Notes" in page and 'action="/admin/schedule?list=tech-notes"' in page
    assert "Tech Notes is not on the weekly cycle yet" in page
    assert client.get("/admin/schedule?list=nope").status_code == 404

    token = csrf(client, "/admin/schedule?list=tech-notes")
    saved = client.post("/admin/schedule?list=tech-notes", data={"csrf_token": token, **NEW}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/schedule?list=tech-notes"
    assert load_schedule(services.sessions, services.settings, b.id) == Schedule(
        "thu", "09:00", "fri", "08:30", "America/New_York", ScheduleMode.APPROVE)
    assert load_schedule(services.sessions, services.settings) == DEFAULTS  # the first list's is untouched
    assert cycle_lists(services.sessions) == [1, b.id]
    page = client.get("/admin/schedule?list=tech-notes").text
    assert "Saved for Tech Notes: composed Thursday 09:00" in page and "not on the weekly cycle" not in page
    assert runs(page)[0] == ("Compose", "Thu 03 Dec 2026 09:00 EST", "Thu 14:00")

    # Bad input and an unknown list change nothing.
    refused = client.post("/admin/schedule?list=tech-notes", data={"csrf_token": token, **NEW, "send_time": "25:00"})
    assert refused.status_code == 400 and "Not saved" in refused.text
    unknown = client.post("/admin/schedule?list=nope", data={"csrf_token": token, **NEW, "mode": "auto"})
    assert unknown.status_code == 404
    assert load_schedule(services.sessions, services.settings, b.id).send_time == "08:30"
    assert load_schedule(services.sessions, services.settings) == DEFAULTS
