"""The archive's Atom feed and each issue's public web version."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import feedparser
from fastapi.testclient import TestClient

from newsletter.issues.compose import compose
from newsletter.delivery.dispatch import Worker
from newsletter.issues.models import Issue, IssueStatus
from newsletter.services import Services
from tests.factories import add_article

START = datetime(2026, 10, 3, 7, 0, tzinfo=timezone.utc)


def add_issue(services: Services, number: int, status: IssueStatus, subject: str = "", preheader: str = "") -> None:
    with services.sessions.begin() as session:
        session.add(Issue(
            number=number, subject=subject or f"Issue {number}", preheader=preheader, status=status,
            sent_at=START + timedelta(weeks=number) if status is IssueStatus.SENT else None,
        ))


def test_feed_lists_sent_issues_newest_first_linking_to_their_web_versions(
    client: TestClient, services: Services
) -> None:
    add_issue(services, 1, IssueStatus.SENT, "First <b>issue</b> & more", preheader="What is in the first one")
    add_issue(services, 2, IssueStatus.SENT)
    add_issue(services, 3, IssueStatus.SENT)
    add_issue(services, 4, IssueStatus.CANCELLED, "Cancelled one")
    add_issue(services, 5, IssueStatus.SENDING, "Going out now")
    add_issue(services, 6, IssueStatus.SCHEDULED, "Scheduled one")
    add_issue(services, 7, IssueStatus.DRAFT, "A draft nobody may see")

    response = client.get("/archive/feed.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "The Test Briefing"
    assert {link.rel: link.href for link in feed.feed.links} == {
        "alternate": "http://newsletter.test/archive",
        "self": "http://newsletter.test/archive/feed.xml",
    }
    assert [e.title for e in feed.entries] == ["#3: Issue 3", "#2: Issue 2", "#1: First <b>issue</b> & more"]
    assert [e.link for e in feed.entries] == [f"http://newsletter.test/archive/{n}" for n in (3, 2, 1)]
    assert [e.id for e in feed.entries] == [e.link for e in feed.entries]
    assert feed.entries[2].summary == "What is in the first one"
    assert feed.entries[0].updated_parsed[:4] == (2026, 10, 24, 7)
    assert b"draft nobody" not in response.content and b"Going out now" not in response.content


def test_empty_archive_is_still_a_valid_feed(client: TestClient) -> None:
    feed = feedparser.parse(client.get("/archive/feed.xml").content)
    assert not feed.bozo and feed.version == "atom10" and feed.entries == []


def test_archive_page_links_the_feed(client: TestClient, services: Services) -> None:
    add_issue(services, 1, IssueStatus.SENT, "<script>alert(1)</script>")
    page = client.get("/archive")
    assert '<link rel="alternate" type="application/atom+xml"' in page.text
    assert 'href="/archive/feed.xml"' in page.text
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text


def test_web_version_has_no_reader_data_and_no_placeholders(client: TestClient, services: Services) -> None:
    services.subscriptions.add("ana.private@example.org", "Ana Private")
    add_article(services.sessions, "Autumn notes")
    issue_id = compose(services.sessions, services.settings).issue_id
    services.publisher.queue(issue_id)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    with services.sessions() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        number, status = issue.number, issue.status
    reader_token = services.tokens.unsubscribe_token(1)
    assert status is IssueStatus.SENT
    page = client.get(f"/archive/{number}")
    assert page.status_code == 200
    html = page.text
    assert "ana.private" not in html and "Ana Private" not in html and reader_token not in html
    assert "@@NL-SLOT" not in html and "{{" not in html
    assert "Hello," in html
    # The email's "View in your browser" link is this page; its unsubscribe link explains itself.
    assert f'href="http://newsletter.test/archive/{number}"' in html
    assert 'href="http://newsletter.test/unsubscribe"' in html
    assert client.get("/unsubscribe").status_code == 200


def test_drafts_have_no_web_version(client: TestClient, services: Services) -> None:
    add_issue(services, 1, IssueStatus.DRAFT)
    assert client.get("/archive/1").status_code == 404
    assert client.get("/archive/99").status_code == 404
    assert client.get("/archive/not-a-number").status_code == 404
