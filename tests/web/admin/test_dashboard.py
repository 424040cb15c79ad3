"""The dashboard through the real app: the page with its charts and tables, the SVGs (valid XML,
nothing to run), the CSVs (spreadsheet-safe)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from newsletter.services import Services
from tests.clock import travel_to
from tests.issues.test_dashboard import NOW, seed
from tests.web.admin.test_issues import log_in

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def now() -> Iterator[datetime]:
    """The app reads its clock for "this week": the seeded history's NOW."""
    yield from travel_to(NOW)


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.usefixtures("now")
def test_the_dashboard_shows_each_chart_with_its_table(client: TestClient, services: Services) -> None:
    s = seed(services.sessions)
    log_in(client, "/admin/dashboard")
    page = client.get("/admin/dashboard")
    assert page.status_code == 200
    assert '<a href="/admin/dashboard">Dashboard</a>' in page.text  # in the admin nav
    for name in ("readers", "issues", "engagement", "links"):
        assert f'<img src="/admin/dashboard/{name}.svg"' in page.text
        assert f'href="/admin/dashboard/{name}.csv"' in page.text
        assert f'<figcaption id="caption-{name}">' in page.text
    assert page.text.count("<details>") == 4 and "<script" not in page.text
    assert '<th scope="row">2026-03-09</th><td class="num">3</td><td class="num">2</td>' in page.text
    assert f'<option value="{s.tracked_issue}" selected>#2: The Test Briefing #2: =SUM(A1)</option>' in page.text
    assert "https://example.org/b" in page.text and "never-clicked" not in page.text

    # The same issue asked for by id; an untracked or unknown one is a 404 page, not a crash.
    assert client.get(f"/admin/dashboard?issue={s.tracked_issue}").status_code == 200
    for issue in (s.old_issue, s.draft, 999):
        missing = client.get(f"/admin/dashboard?issue={issue}")
        assert missing.status_code == 404 and "no tracked issue" in missing.text


@pytest.mark.usefixtures("now")
def test_each_chart_is_a_plain_svg_picture(client: TestClient, services: Services) -> None:
    seed(services.sessions)
    log_in(client, "/admin/dashboard")
    for name, title in (("readers", "Readers per week, last 26 weeks"), ("issues", "Outcome of the last 2 issues"),
                        ("engagement", "Opens and clicks of #2, first 72 hours"),
                        ("links", "Most clicked links of #2")):
        response = client.get(f"/admin/dashboard/{name}.svg")
        assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
        root = ElementTree.fromstring(response.text)  # well-formed XML
        assert root.tag == f"{SVG}svg" and root.get("viewBox") == "0 0 800 420"  # scales with the page
        assert root.find(f".//{SVG}script") is None and "<script" not in response.text
        assert title in "".join(root.itertext())
    assert client.get("/admin/dashboard/nothing.svg").status_code == 404


@pytest.mark.usefixtures("now")
def test_each_chart_as_a_spreadsheet_safe_csv(client: TestClient, services: Services) -> None:
    seed(services.sessions)
    log_in(client, "/admin/dashboard")
    readers = client.get("/admin/dashboard/readers.csv")
    assert readers.headers["content-type"].startswith("text/csv")
    assert "attachment" in readers.headers["content-disposition"]
    table = rows(readers.text)
    assert table[0] == ["week starting", "joined", "left", "bounced"] and len(table) == 27
    assert table[-2:] == [["2026-03-02", "1", "0", "2"], ["2026-03-09", "3", "2", "0"]]

    issues = rows(client.get("/admin/dashboard/issues.csv").text)
    assert issues[1] == ["1", "The Test Briefing #1: Old news", "6", "5", "1", "0", "0", "", ""]
    assert issues[2][:2] == ["2", "The Test Briefing #2: =SUM(A1)"]
    assert rows(client.get("/admin/dashboard/engagement.csv").text)[1] == ["0", "2", "2"]
    assert rows(client.get("/admin/dashboard/links.csv").text)[1:] == [
        ["1", "https://example.org/b", "3", "2"], ["0", "https://example.org/a", "1", "0"]]


def test_csv_cells_that_start_a_formula_get_a_quote(client: TestClient, services: Services) -> None:
    from newsletter.issues.models import Issue, IssueStatus

    with services.sessions.begin() as session:
        session.add(Issue(number=1, subject="=HYPERLINK(\"http://evil\")", status=IssueStatus.SENT))
    log_in(client, "/admin/dashboard")
    table = rows(client.get("/admin/dashboard/issues.csv").text)
    assert table[1][1] == "'=HYPERLINK(\"http://evil\")"


def test_without_tracking_the_page_says_where_opens_come_from(client: TestClient) -> None:
    log_in(client, "/admin/dashboard")
    page = client.get("/admin/dashboard")
    assert page.status_code == 200 and "once an issue is sent with tracking on" in page.text
    assert "/admin/dashboard/engagement.svg" not in page.text
    assert client.get("/admin/dashboard/engagement.svg").status_code == 200  # an empty chart, not an error
    assert rows(client.get("/admin/dashboard/links.csv").text) == [["link", "address", "clicks", "readers"]]


def test_the_dashboard_needs_a_login(client: TestClient) -> None:
    for path in ("/admin/dashboard", "/admin/dashboard/readers.svg", "/admin/dashboard/readers.csv"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and "/admin/login" in response.headers["location"]
