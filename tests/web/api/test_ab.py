"""The JSON API's A/B subject test: set it on a draft, read it on the issue, send the test share,
decide now; bad input names the field, and a test without tracking is a 409."""

from __future__ import annotations

from fastapi.testclient import TestClient

from newsletter.issues.list_profile import save_profile
from newsletter.services import Services
from tests.factories import add_subscribers
from tests.web.api.test_issues import api as api  # noqa: F401  (the fixture)
from tests.web.api.test_issues import write_article


def test_set_read_send_and_decide_a_test(api: TestClient, services: Services) -> None:  # noqa: F811
    add_subscribers(services.sessions, 10)
    issue = api.post("/api/v1/issues", json={"subject": "Waterways", "article_ids": [write_article(api, "Rivers")]})
    issue_id = issue.json()["id"]
    assert issue.json()["ab"] is None
    url = f"/api/v1/issues/{issue_id}/ab"

    refused = api.put(url, json={"subjects": ["Rivers and more"]})
    assert refused.status_code == 409 and "tracking is off" in refused.json()["error"]
    save_profile(services.sessions, services.settings, tracking_enabled=True)
    for body, field in [({"subjects": []}, "subjects"), ({"subjects": ["B"], "fraction": 1}, "fraction"),
                        ({"subjects": ["B"], "metric": "replies"}, "metric"), ({"subjects": ["B"], "x": 1}, "x"),
                        ({"subjects": ["Waterways"]}, "subjects")]:
        bad = api.put(url, json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert field in [f["field"] for f in bad.json()["fields"]], bad.json()
    assert api.get(f"/api/v1/issues/{issue_id}").json()["ab"] is None

    made = api.put(url, json={"subjects": ["Rivers and more"], "fraction": 0.4, "wait_hours": 1})
    assert made.status_code == 200, made.text
    ab = api.get(f"/api/v1/issues/{issue_id}").json()["ab"]
    assert (ab["state"], ab["fraction"], ab["metric"]) == ("ready", 0.4, "opens")
    assert [(v["letter"], v["subject"]) for v in ab["variants"]] == [("A", "Waterways"), ("B", "Rivers and more")]

    assert api.post(f"/api/v1/issues/{issue_id}/send").json()["queued"] == 4
    assert api.delete(url).status_code == 409
    decided = api.post(f"{url}/decide")
    assert decided.status_code == 200, decided.text
    assert (decided.json()["letter"], decided.json()["queued"]) == ("A", 6)
    assert api.post(f"{url}/decide").status_code == 409
    assert api.get(f"/api/v1/issues/{issue_id}").json()["ab"]["state"] == "decided"


def test_a_test_is_taken_off_and_unknown_issues_are_404(api: TestClient, services: Services) -> None:  # noqa: F811
    save_profile(services.sessions, services.settings, tracking_enabled=True)
    issue_id = api.post("/api/v1/issues", json={"subject": "W", "article_ids": [write_article(api, "R")]}).json()["id"]
    assert api.put(f"/api/v1/issues/{issue_id}/ab", json={"subjects": ["B", "C", "D"]}).status_code == 200
    assert api.delete(f"/api/v1/issues/{issue_id}/ab").status_code == 204
    assert api.get(f"/api/v1/issues/{issue_id}").json()["ab"] is None
    assert api.put("/api/v1/issues/999/ab", json={"subjects": ["B"]}).status_code == 404
    assert api.post("/api/v1/issues/999/ab/decide").status_code == 404
