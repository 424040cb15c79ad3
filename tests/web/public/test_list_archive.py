"""A list's own archive and Atom feed: /n/<slug>/archive lists only that list's sent issues."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import feedparser
from fastapi.testclient import TestClient

from newsletter.issues.models import Issue, IssueStatus
from newsletter.lists.catalog import create_list
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.services import Services

START = datetime(2026, 10, 3, 7, 0, tzinfo=timezone.utc)


def _issue(services: Services, number: int, list_id: int, status: IssueStatus = IssueStatus.SENT) -> None:
    with services.sessions.begin() as session:
        session.add(Issue(number=number, subject=f"Issue {number}", preheader="", status=status, list_id=list_id,
                          html=f"<html><body><p>Body of issue {number}</p></body></html>",
                          sent_at=START + timedelta(weeks=number) if status is IssueStatus.SENT else None))


def test_each_list_has_its_own_archive_and_feed(client: TestClient, services: Services) -> None:
    b = create_list(services.sessions, "Tech Notes")
    _issue(services, 1, FIRST_LIST_ID)
    _issue(services, 2, b.id)
    _issue(services, 3, b.id)
    _issue(services, 4, b.id, IssueStatus.DRAFT)

    page = client.get("/n/tech-notes/archive")
    assert page.status_code == 200 and "Archive · Tech Notes" in page.text
    assert 'href="/n/tech-notes/archive/3"' in page.text and 'href="/n/tech-notes/archive/2"' in page.text
    assert "/archive/1" not in page.text and "/archive/4" not in page.text
    assert 'href="/n/tech-notes/archive/feed.xml"' in page.text and 'href="/n/tech-notes/subscribe"' in page.text
    first = client.get("/archive")
    assert 'href="/archive/1"' in first.text and "/archive/2" not in first.text  # the first list's only

    feed = client.get("/n/tech-notes/archive/feed.xml")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(feed.content)
    assert parsed.feed.title == "Tech Notes"
    assert [e.link for e in parsed.entries] == ["http://newsletter.test/n/tech-notes/archive/3",
                                                "http://newsletter.test/n/tech-notes/archive/2"]
    first_feed = feedparser.parse(client.get("/archive/feed.xml").content)
    assert [e.link for e in first_feed.entries] == ["http://newsletter.test/archive/1"]

    assert "Body of issue 2" in client.get("/n/tech-notes/archive/2").text
    assert client.get("/n/tech-notes/archive/1").status_code == 404  # the first list's issue
    assert client.get("/n/tech-notes/archive/4").status_code == 404  # a draft
    assert "Body of issue 2" in client.get("/archive/2").text  # every email's web link still works
    for path in ("/n/nope/archive", "/n/nope/archive/feed.xml", "/n/nope/archive/2"):
        assert client.get(path).status_code == 404
