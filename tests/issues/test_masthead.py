"""The masthead as readers see it: a logo that cannot load gives way to the list's name in every
render (preview, test send, archive, the send), and the date is the day the issue went out."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime, timezone

import pytest
import time_machine
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer

from newsletter.delivery.dispatch import Worker
from newsletter.issues.list_profile import save_profile
from newsletter.issues.models import Issue
from newsletter.issues.preflight import check_issue
from newsletter.media.fetch import web_fetch
from newsletter.render.logo import adopt_logo, shown_logo
from newsletter.services import Services
from tests.factories import add_subscribers, this_weeks_issue
from tests.media.images import png

MISSING = f"http://newsletter.test/media/{'0' * 64}.png"  # ours, but not in the store
DEAD = "https://cdn.example/logo.png"  # someone else's, never copied (and unreachable)
LOGO_IMG = re.compile(r'<img [^>]*alt="The Test Briefing"')


def parts(data: bytes) -> tuple[str, str]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    assert html is not None and text is not None
    return html.get_content(), text.get_content()


def masthead_dates(body: str) -> list[str]:
    """The dates the masthead's kicker shows ("Issue N · 9 July 2026"); the articles' own dates are not."""
    return re.findall(r"Issue \d+ · (\d+ \w+ \d{4})", body)


def stored(services: Services, issue_id: int) -> Issue:
    with services.sessions() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        session.expunge(issue)
        return issue


@pytest.mark.parametrize("logo", [MISSING, DEAD], ids=["missing-media", "dead-url"])
def test_a_logo_that_cannot_load_shows_the_name_in_every_render(services: Services, logo: str) -> None:
    issue_id = this_weeks_issue(services, "Under a broken logo")
    with services.sessions.begin() as session:
        session.get(Issue, issue_id).article_mode = "excerpt"  # type: ignore[union-attr]
    save_profile(services.sessions, services.settings, logo_url=logo)
    preview = services.publisher.preview_html(issue_id)
    services.publisher.send_test(issue_id, "editor@example.org", services.backend)
    test_html, _ = parts(services.backend.sent[-1].data)  # type: ignore[attr-defined]
    web = stored(services, issue_id).web_html  # excerpt mode: the archive's own version
    assert web is not None
    for html in (preview, test_html, web):
        assert logo not in html and not LOGO_IMG.search(html)
        assert re.search(r'class="masthead"[^>]*>.*?The Test Briefing', html, re.S)  # the name, as text
    # Preflight says why, in the writer's words (the technical detail names the address).
    found = {f.code: f for f in check_issue(services, issue_id).warnings}
    finding = found["logo-missing" if logo == MISSING else "logo-elsewhere"]
    assert finding.title == "The logo will not show"
    assert "emails show the newsletter's name instead" in finding.explanation
    assert logo in finding.message


def test_a_stored_logo_shows(services: Services) -> None:
    issue_id = this_weeks_issue(services, "Under a good logo")
    logo = services.media.add(png(480, 120)).url
    save_profile(services.sessions, services.settings, logo_url=logo)
    assert re.search(rf'<img [^>]*alt="The Test Briefing"[^>]*src="{re.escape(logo)}"',
                     services.publisher.preview_html(issue_id))
    assert not {"logo-missing", "logo-elsewhere"} & {f.code for f in check_issue(services, issue_id).warnings}


def test_a_logo_typed_as_an_address_is_copied_once_and_then_shows(services: Services, httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/logo.png").respond_with_data(png(480, 120), content_type="image/png")
    httpserver.expect_request("/gone.png").respond_with_data("no", status=404)
    # The test server is on loopback, which the address-checked fetch refuses unless allowed.
    fetch = web_fetch(services.settings.model_copy(update={"sources_allow_private": True}))
    copied = adopt_logo(httpserver.url_for("/logo.png"), services.media, fetch)
    assert copied.copied and copied.url.startswith("http://newsletter.test/media/")
    assert shown_logo(copied.url, services.media) == copied.url
    assert adopt_logo(copied.url, services.media, fetch) == copied.__class__(copied.url, copied=False)  # ours: no fetch
    gone = adopt_logo(httpserver.url_for("/gone.png"), services.media, fetch)
    assert not gone.copied and gone.url == httpserver.url_for("/gone.png") and "404" in gone.error
    assert shown_logo(gone.url, services.media) == ""
    assert len([entry for entry in httpserver.log if entry[0].path == "/logo.png"]) == 1


# Day A: composed and previewed. Day B: queued. 23:30 UTC on 8 July is 00:30 on 9 July in
# London (the list's zone), so B's date in the list's zone is not its UTC date.
DAY_A = datetime(2026, 7, 6, 12, 0, tzinfo=timezone.utc)
DAY_B = datetime(2026, 7, 8, 23, 30, tzinfo=timezone.utc)


def test_the_masthead_is_dated_the_day_the_issue_went_out(services: Services, client: TestClient) -> None:
    add_subscribers(services.sessions, 2)
    with time_machine.travel(DAY_A, tick=False):
        issue_id = this_weeks_issue(services, "Composed on Monday", now=DAY_A)
        assert "Issue 1 · 6 July 2026" in services.publisher.preview_html(issue_id)
    with time_machine.travel(DAY_B, tick=False):
        # Previewed on another day before it goes: the planned date is today's.
        assert "Issue 1 · 9 July 2026" in services.publisher.preview_html(issue_id)
    with time_machine.travel(DAY_A, tick=False):
        services.publisher.preview_html(issue_id)  # an older render kept on the row again
    services.publisher.queue(issue_id, now=DAY_B)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    services.store.finish_issues()
    delivered = services.backend.sent  # type: ignore[attr-defined]
    assert len(delivered) == 2
    for message in delivered:
        html, text = parts(message.data)
        assert masthead_dates(html) == masthead_dates(text) == ["9 July 2026"]
    archive = client.get("/archive/1")
    assert archive.status_code == 200 and masthead_dates(archive.text) == ["9 July 2026"]


def test_a_scheduled_issue_previews_its_send_date(services: Services) -> None:
    from newsletter.schedule.sends import schedule_issue, unschedule_issue

    with time_machine.travel(DAY_A, tick=False):
        issue_id = this_weeks_issue(services, "Planned for Thursday", now=DAY_A)
        assert "Issue 1 · 6 July 2026" in services.publisher.preview_html(issue_id)
        schedule_issue(services, issue_id, datetime(2026, 7, 9, 6, 0, tzinfo=timezone.utc), now=DAY_A)
        assert "Issue 1 · 9 July 2026" in services.publisher.preview_html(issue_id)
        unschedule_issue(services, issue_id)
        assert "Issue 1 · 6 July 2026" in services.publisher.preview_html(issue_id)
