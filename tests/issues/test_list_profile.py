"""List settings: defaults from the Settings, stored overrides, validation, and the effective
list name and From address in real sends (worker, confirmation) and on the pages."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from newsletter.issues.compose import compose
from newsletter.config import Settings
from newsletter.delivery.dispatch import Worker
from newsletter.issues.list_profile import (
    DEFAULT_ACCENT,
    DEFAULT_FONT,
    FONT_STACKS,
    InvalidProfile,
    effective_settings,
    load_profile,
    save_profile,
)
from newsletter.db.base import utcnow
from newsletter.issues.models import Issue
from newsletter.services import Services
from tests.factories import add_article, add_subscribers


def parsed(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def send_issue(services: Services, weeks_ago: int = 0) -> list[EmailMessage]:
    """Compose and send one week's issue (a week of its own each time) through a real worker."""
    when = utcnow() - timedelta(weeks=weeks_ago)
    add_article(services.sessions, f"A piece from {weeks_ago} weeks ago", published_at=when)
    issue_id = compose(services.sessions, services.settings, now=when).issue_id
    services.publisher.queue(issue_id)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    sent = [parsed(m.data) for m in services.backend.sent]  # type: ignore[attr-defined]
    services.backend.clear()  # type: ignore[attr-defined]
    return sent


def test_defaults_come_from_the_settings(services: Services, settings: Settings) -> None:
    profile = load_profile(services.sessions, settings)
    assert profile.list_name == "The Test Briefing"
    assert profile.from_address == "The Test Briefing <briefing@example.org>"
    assert (profile.rate_per_second, profile.rate_per_hour) == (0, 0)
    assert profile.accent_color == DEFAULT_ACCENT == "#0b57d0"
    assert profile.font_family == DEFAULT_FONT
    assert (profile.logo_url, profile.footer_text, profile.custom_template) == ("", "", None)
    assert profile.tracking_enabled is False and profile.welcome_enabled is False
    assert "The Test Briefing" in profile.welcome_subject and profile.welcome_body_markdown


def test_saved_values_override_and_none_goes_back_to_the_default(services: Services, settings: Settings) -> None:
    save_profile(services.sessions, settings, list_name="Field Notes", from_address="Field Notes <notes@example.com>",
                 rate_per_second="2.5", rate_per_hour="900", accent_color="#AA3300", font_family="Classic serif",
                 tracking_enabled=True)
    profile = load_profile(services.sessions, settings)
    assert profile.list_name == "Field Notes"
    assert profile.from_address == "Field Notes <notes@example.com>"
    assert (profile.rate_per_second, profile.rate_per_hour) == (2.5, 900)
    assert profile.accent_color == "#aa3300"
    assert profile.font_family == FONT_STACKS["Classic serif"]
    assert profile.tracking_enabled is True
    assert profile.welcome_subject == "Welcome to Field Notes"  # the default follows the name

    effective = effective_settings(settings, profile)
    assert (effective.list_name, effective.sender_email, effective.rate_per_hour) == ("Field Notes", "notes@example.com", 900)
    assert settings.list_name == "The Test Briefing"  # a copy: the Settings object is untouched

    save_profile(services.sessions, settings, list_name=None, from_address=None)
    profile = load_profile(services.sessions, settings)
    assert (profile.list_name, profile.from_address) == ("The Test Briefing", settings.from_address)
    assert profile.accent_color == "#aa3300"  # the rest stays


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("from_address", "not an address", "address"),
        ("from_address", "Name <a@b.example>\r\nBcc: x@y.example", "one line"),
        ("accent_color", "red", "#rrggbb"),
        ("accent_color", "#12345", "#rrggbb"),
        ("logo_url", "javascript:alert(1)", "http"),
        ("logo_url", "/relative/logo.png", "absolute"),
        ("font_family", "Comic Sans MS; } body { color: red", "one of"),
        ("list_name", "x" * 101, "at most 100"),
        ("list_name", "   ", "empty"),
        ("footer_text", "y" * 1001, "at most 1000"),
        ("rate_per_second", "fast", "number"),
        ("rate_per_hour", "-5", "whole number"),
    ],
)
def test_invalid_values_are_refused_and_nothing_is_stored(
    services: Services, settings: Settings, field: str, value: str, says: str
) -> None:
    with pytest.raises(InvalidProfile) as caught:
        save_profile(services.sessions, settings, **{"welcome_subject": "Changed", field: value})
    assert caught.value.field == field
    assert says in caught.value.message
    assert load_profile(services.sessions, settings).welcome_subject != "Changed"  # the valid one neither


def test_every_error_is_reported_at_once(services: Services, settings: Settings) -> None:
    with pytest.raises(InvalidProfile) as caught:
        save_profile(services.sessions, settings, accent_color="blue", logo_url="ftp://x/y.png")
    assert set(caught.value.errors) == {"accent_color", "logo_url"}


def test_the_worker_sends_from_the_saved_address(services: Services, settings: Settings) -> None:
    add_subscribers(services.sessions, 2)
    [before, _] = send_issue(services, weeks_ago=1)
    assert before["From"].addresses[0].addr_spec == "briefing@example.org"

    save_profile(services.sessions, settings, list_name="Field Notes", from_address="Field Notes <notes@example.com>")
    after = send_issue(services)
    assert len(after) == 2
    for message in after:
        assert message["From"].addresses[0].addr_spec == "notes@example.com"
        assert message["From"].addresses[0].display_name == "Field Notes"
        assert "Field Notes" in message["List-Id"]
        html = message.get_body(preferencelist=("html",))
        assert html is not None and "Field Notes" in html.get_content()


def test_the_confirmation_uses_the_saved_name_and_address(services: Services, settings: Settings) -> None:
    save_profile(services.sessions, settings, list_name="Field Notes", from_address="Field Notes <notes@example.com>")
    services.subscriptions.subscribe("new@example.net")
    [sent] = services.backend.sent  # type: ignore[attr-defined]
    message = parsed(sent.data)
    assert message["From"].addresses[0].addr_spec == "notes@example.com"
    assert "Field Notes" in message["Subject"]


def test_saving_the_design_re_renders_drafts_but_not_sent_issues(services: Services, settings: Settings) -> None:
    add_article(services.sessions, "Something new")
    issue_id = compose(services.sessions, settings).issue_id
    assert "Field Notes" not in services.publisher.rendered(issue_id).html
    save_profile(services.sessions, settings, list_name="Field Notes")
    assert "Field Notes" in services.publisher.rendered(issue_id).html


def test_sent_issues_keep_the_html_their_readers_got(services: Services, settings: Settings) -> None:
    add_subscribers(services.sessions, 1)
    send_issue(services)
    with services.sessions() as session:
        issue = session.query(Issue).one()
        html_before = issue.html
    save_profile(services.sessions, settings, list_name="Field Notes")
    with services.sessions() as session:
        assert session.query(Issue).one().html == html_before


def test_the_page_header_shows_the_saved_list_name(client: TestClient, services: Services, settings: Settings) -> None:
    assert "The Test Briefing" in client.get("/subscribe").text
    save_profile(services.sessions, settings, list_name="Field Notes")
    page = client.get("/subscribe").text
    assert '<a class="brand" href="/subscribe">Field Notes</a>' in page


def test_workers_take_the_saved_sending_limits(services: Services, settings: Settings) -> None:
    # What worker_pool.run_one reads as a worker starts (README: restart workers to apply).
    save_profile(services.sessions, settings, rate_per_second="4", rate_per_hour="1200")
    limits = services.store.sending_settings(settings)
    assert (limits.rate_per_second, limits.rate_per_hour) == (4.0, 1200)
