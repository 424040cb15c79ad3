"""The issue page's A/B subject test: the tracking prompt, setting the test, the variants and their
figures during the test, deciding now, and bad input shown without a change."""

from __future__ import annotations

from fastapi.testclient import TestClient

from newsletter.abtests.figures import load_summary
from newsletter.issues.list_profile import save_profile
from newsletter.services import Services
from tests.web.admin.test_issues import add_readers, csrf, issue_id as issue_id  # noqa: F401  (the fixture)
from tests.web.admin.test_issues import log_in


def test_set_show_decide_an_ab_test(client: TestClient, services: Services, issue_id: int) -> None:  # noqa: F811
    add_readers(services, active=10)
    log_in(client)
    page = client.get(f"/admin/issues/{issue_id}").text
    assert 'id="ab-needs-tracking"' in page and 'id="ab-form"' not in page
    save_profile(services.sessions, services.settings, tracking_enabled=True)
    token = csrf(client, f"/admin/issues/{issue_id}")

    bad = client.post(f"/admin/issues/{issue_id}/ab", data={"csrf_token": token, "subject_b": "B", "percent": "abc"})
    assert "A/B test not set: the test share must be a number" in bad.text
    assert load_summary(services.sessions, issue_id) is None

    done = client.post(f"/admin/issues/{issue_id}/ab", data={
        "csrf_token": token, "subject_b": "Bridges <b>and</b> more", "subject_c": "", "percent": "40",
        "metric": "clicks", "wait_hours": "2"})
    assert "A/B test set: 2 subjects" in done.text
    assert "Bridges &lt;b&gt;and&lt;/b&gt; more" in done.text  # escaped, never markup
    summary = load_summary(services.sessions, issue_id)
    assert summary is not None and (summary.fraction, summary.metric, summary.wait_hours) == (0.4, "clicks", 2.0)

    client.post(f"/admin/issues/{issue_id}/send", data={"csrf_token": token})
    testing = client.get(f"/admin/issues/{issue_id}").text
    assert "Testing: the winner is chosen at" in testing and "0 of 2" in testing and 'id="ab-decide"' in testing
    decided = client.post(f"/admin/issues/{issue_id}/ab/decide", data={"csrf_token": token})
    assert "Subject A won; 6 more readers queued with it." in decided.text
    again = client.post(f"/admin/issues/{issue_id}/ab/decide", data={"csrf_token": token})
    assert "Not decided: cannot decide the A/B test" in again.text


def test_a_test_is_taken_off(client: TestClient, services: Services, issue_id: int) -> None:  # noqa: F811
    save_profile(services.sessions, services.settings, tracking_enabled=True)
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    client.post(f"/admin/issues/{issue_id}/ab", data={"csrf_token": token, "subject_b": "Other"})
    assert load_summary(services.sessions, issue_id) is not None
    off = client.post(f"/admin/issues/{issue_id}/ab/off", data={"csrf_token": token})
    assert "A/B test taken off" in off.text and load_summary(services.sessions, issue_id) is None
    assert client.post(f"/admin/issues/{issue_id}/ab/off", data={}).status_code in (400, 403)  # CSRF
