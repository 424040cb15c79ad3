"""The archive's list: each issue's title said once, not "#1: The Briefing #1: ..."."""

from __future__ import annotations

from fastapi.testclient import TestClient

from newsletter.issues.models import Issue, IssueStatus
from newsletter.services import Services
from newsletter.web.public.pages import archive_title


def test_a_composed_subject_keeps_its_own_number(client: TestClient, services: Services) -> None:
    with services.sessions.begin() as session:
        session.add_all([
            Issue(number=1, subject="The Test Briefing #1: Rivers return", status=IssueStatus.SENT),
            Issue(number=2, subject="A special edition", status=IssueStatus.SENT),
        ])
    page = client.get("/archive").text
    assert '<a href="/archive/1">The Test Briefing #1: Rivers return</a>' in page
    assert "#1: The Test Briefing #1" not in page
    assert '<a href="/archive/2">#2: A special edition</a>' in page  # a subject without its number


def test_another_number_in_the_subject_is_not_this_issues() -> None:
    assert archive_title(1, "Briefing #12: more") == "#1: Briefing #12: more"
    assert archive_title(12, "Briefing #12") == "Briefing #12"
