"""The JSON API's issues through the real app: write articles, build an issue, reorder, test send,
send, watch it go out, read its figures; conflicts, bad input and unknown ids."""

from __future__ import annotations

import email
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from newsletter.mail.backends.memory import MemoryBackend
from newsletter.delivery.dispatch import Worker
from newsletter.db.base import utcnow
from newsletter.services import Services
from tests.factories import add_article, add_subscribers


@pytest.fixture
def api(client: TestClient, services: Services) -> TestClient:
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
    return client


def write_article(api: TestClient, title: str, **extra: Any) -> int:
    response = api.post("/api/v1/articles", json={"title": title, "body_markdown": f"All about {title}.", **extra})
    assert response.status_code == 201, response.text
    article_id: int = response.json()["id"]
    return article_id


def titles(issue: dict[str, Any]) -> list[str]:
    return [a["title"] for a in issue["articles"]]


def subject_of(raw: bytes) -> str:
    return str(make_header(decode_header(email.message_from_bytes(raw)["Subject"])))


def test_build_reorder_test_send_send_and_read_figures(api: TestClient, services: Services) -> None:
    ids = [write_article(api, title) for title in ("Rivers", "Bridges", "Tunnels")]
    created = api.post("/api/v1/issues", json={"subject": "Waterways", "article_ids": ids[:2]})
    assert created.status_code == 201
    issue = created.json()
    assert created.headers["location"] == f"/api/v1/issues/{issue['id']}"
    assert issue["status"] == "draft" and issue["subject"] == "Waterways" and titles(issue) == ["Rivers", "Bridges"]

    patched = api.patch(f"/api/v1/issues/{issue['id']}", json={
        "article_ids": [ids[2], ids[0], ids[1]], "subject": "Under and over", "preheader": "Three crossings",
        "editor_note": "Hello, readers.",
    })
    assert patched.status_code == 200, patched.text
    read = api.get(f"/api/v1/issues/{issue['id']}").json()
    assert titles(read) == ["Tunnels", "Rivers", "Bridges"]
    assert [a["id"] for a in read["articles"]] == [ids[2], ids[0], ids[1]]
    assert (read["subject"], read["preheader"], read["editor_note"]) == ("Under and over", "Three crossings",
                                                                         "Hello, readers.")

    backend = services.backend
    assert isinstance(backend, MemoryBackend)
    tested = api.post(f"/api/v1/issues/{issue['id']}/test", json={"to": ["ed@example.com", "Sub@Example.com"]})
    assert tested.status_code == 200, tested.text
    assert tested.json() == {"id": issue["id"], "sent_to": ["ed@example.com", "sub@example.com"]}
    assert sorted(m.recipient for m in backend.sent) == ["ed@example.com", "sub@example.com"]
    assert {subject_of(m.data) for m in backend.sent} == {"[Test] Under and over"}
    backend.sent.clear()

    add_subscribers(services.sessions, 3)
    sent = api.post(f"/api/v1/issues/{issue['id']}/send", json={"force": False})
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"id": issue["id"], "status": "sending", "queued": 3}
    assert api.get(f"/api/v1/issues/{issue['id']}/status").json()["queued"] == 3

    again = api.post(f"/api/v1/issues/{issue['id']}/send")
    assert again.status_code == 409
    assert again.json() == {"error": f"Cannot send issue {issue['id']}: it is sending.", "status": 409}
    late_edit = api.patch(f"/api/v1/issues/{issue['id']}", json={"subject": "Too late"})
    assert late_edit.status_code == 409 and "only a draft or scheduled issue" in late_edit.json()["error"]

    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    assert sorted(m.recipient for m in backend.sent) == [f"reader{n}@example.net" for n in range(3)]
    status = api.get(f"/api/v1/issues/{issue['id']}/status").json()
    assert status["status"] == "sent" and status["sent"] == 3 and status["total"] == 3
    figures = api.get(f"/api/v1/issues/{issue['id']}/figures")
    assert figures.status_code == 200
    assert figures.json()["recipients"] == 3 and figures.json()["sent"] == 3 and figures.json()["bounced"] == 0
    every = api.get("/api/v1/figures").json()
    assert every["total"] == 1 and every["items"][0]["issue_id"] == issue["id"]
    assert every["items"][0]["subject"] == "Under and over" and every["items"][0]["sent"] == 3


def test_compose_this_week_once(api: TestClient, services: Services, mid_week_now: datetime) -> None:
    assert api.post("/api/v1/issues", json={"compose": True}).status_code == 409  # no articles yet
    add_article(services.sessions, "This week's piece", mid_week_now)
    first = api.post("/api/v1/issues", json={"compose": True})
    assert first.status_code == 201 and titles(first.json()) == ["This week's piece"]
    second = api.post("/api/v1/issues", json={"compose": True})
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]


def test_list_filter_and_paginate(api: TestClient, services: Services) -> None:
    article = add_article(services.sessions, "Shared piece")
    ids = [api.post("/api/v1/issues", json={"subject": f"Issue {n}", "article_ids": [article]}).json()["id"]
           for n in range(3)]
    api.post(f"/api/v1/issues/{ids[0]}/send")
    page = api.get("/api/v1/issues", params={"limit": 2}).json()
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == [ids[2], ids[1]]
    assert page["items"][0]["article_count"] == 1
    assert [i["id"] for i in api.get("/api/v1/issues", params={"limit": 2, "offset": 2}).json()["items"]] == [ids[0]]
    drafts = api.get("/api/v1/issues", params={"status": "draft"}).json()
    assert drafts["total"] == 2 and {i["id"] for i in drafts["items"]} == {ids[1], ids[2]}
    bad = api.get("/api/v1/issues", params={"status": "lost"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "status"


def test_schedule_a_draft(api: TestClient, services: Services) -> None:
    issue = api.post("/api/v1/issues", json={"subject": "Later", "article_ids": []}).json()
    at = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    local = at.astimezone(ZoneInfo("America/New_York")).isoformat()
    scheduled = api.post(f"/api/v1/issues/{issue['id']}/schedule", json={"at": local})
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["status"] == "scheduled"
    assert scheduled.json()["scheduled_at"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")

    past = api.post(f"/api/v1/issues/{issue['id']}/schedule", json={"at": "2020-01-01T07:00:00Z"})
    assert past.status_code == 422 and past.json()["fields"] == [{"field": "at", "message": past.json()["fields"][0]["message"]}]
    assert "in the past" in past.json()["error"]
    naive = api.post(f"/api/v1/issues/{issue['id']}/schedule", json={"at": "2030-01-01T07:00:00"})
    assert naive.status_code == 422 and naive.json()["fields"][0]["field"] == "at"
    huge = api.post(f"/api/v1/issues/{issue['id']}/schedule", json={"at": "9999-12-31T23:59:59-12:00"})
    assert huge.status_code == 422

    add_subscribers(services.sessions, 1)
    api.post(f"/api/v1/issues/{issue['id']}/send")
    sent_already = api.post(f"/api/v1/issues/{issue['id']}/schedule", json={"at": local})
    assert sent_already.status_code == 409 and "it is sending" in sent_already.json()["error"]


def test_preflight_errors_block_the_send_unless_forced(api: TestClient, services: Services) -> None:
    article = add_article(services.sessions, "Broken links", paragraphs=["One."], image_url="/relative.png")
    issue = api.post("/api/v1/issues", json={"subject": "Needs checking", "article_ids": [article]}).json()
    add_subscribers(services.sessions, 2)
    refused = api.post(f"/api/v1/issues/{issue['id']}/send")
    assert refused.status_code == 409
    body = refused.json()
    assert "failed preflight" in body["error"] and "force" in body["error"]
    assert "image-url" in [p["code"] for p in body["problems"]]
    assert api.get(f"/api/v1/issues/{issue['id']}/status").json()["total"] == 0
    forced = api.post(f"/api/v1/issues/{issue['id']}/send", json={"force": True})
    assert forced.status_code == 200 and forced.json()["queued"] == 2


def test_pause_resume_cancel_keep_their_documents(api: TestClient, services: Services) -> None:
    issue = api.post("/api/v1/issues", json={"subject": "Stop and go", "article_ids": []}).json()
    add_subscribers(services.sessions, 4)
    api.post(f"/api/v1/issues/{issue['id']}/send")
    paused = api.post(f"/api/v1/issues/{issue['id']}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused" and paused.json()["queued"] == 4
    assert api.post(f"/api/v1/issues/{issue['id']}/pause").status_code == 409
    assert api.post(f"/api/v1/issues/{issue['id']}/resume").json()["status"] == "sending"
    cancelled = api.post(f"/api/v1/issues/{issue['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["skipped"] == 4 and cancelled["queued"] == 0
    assert set(cancelled) == {"id", "status", "queued", "sending", "sent", "deferred", "failed", "bounced",
                              "skipped", "total", "rate_per_second", "eta_seconds", "domains"}


BAD_ISSUES: list[tuple[dict[str, Any], str]] = [
    ({}, "body"),
    ({"subject": "   ", "article_ids": []}, "subject"),
    ({"subject": "x" * 301, "article_ids": []}, "subject"),
    ({"subject": "Fine", "article_ids": [999]}, "article_ids"),
    ({"subject": "Fine", "article_ids": ["one"]}, "article_ids.0"),
    ({"subject": "Fine", "artcle_ids": []}, "artcle_ids"),
    ({"subject": "Fine\x00", "article_ids": []}, "subject"),
    ({"compose": True, "subject": "Both"}, "body"),
]


def test_bad_input_names_the_field(api: TestClient) -> None:
    for body, field in BAD_ISSUES:
        response = api.post("/api/v1/issues", json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/json"
        error = response.json()
        assert error["status"] == 422 and error["error"].endswith(".")
        assert field in [f["field"] for f in error["fields"]], error
    assert api.get("/api/v1/issues").json()["total"] == 0


def test_bad_paging_and_test_send_input(api: TestClient, services: Services) -> None:
    for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        response = api.get("/api/v1/issues", params=params)
        assert response.status_code == 422 and response.json()["fields"][0]["field"] == next(iter(params))
    issue = api.post("/api/v1/issues", json={"subject": "Tests", "article_ids": []}).json()
    too_many = api.post(f"/api/v1/issues/{issue['id']}/test", json={"to": [f"a{n}@example.com" for n in range(11)]})
    assert too_many.status_code == 422 and too_many.json()["fields"][0]["field"] == "to"
    not_an_address = api.post(f"/api/v1/issues/{issue['id']}/test", json={"to": ["nobody"]})
    assert not_an_address.status_code == 422 and not_an_address.json()["fields"][0]["field"] == "to.0"
    assert services.backend.sent == []  # type: ignore[attr-defined]


UNKNOWN_ISSUE: list[tuple[str, str, Any]] = [
    ("GET", "/issues/999", None), ("PATCH", "/issues/999", {"subject": "x"}),
    ("POST", "/issues/999/test", {"to": ["a@example.com"]}), ("POST", "/issues/999/send", None),
    ("POST", "/issues/999/schedule", {"at": "2099-01-01T00:00:00Z"}), ("GET", "/issues/999/status", None),
    ("POST", "/issues/999/pause", None), ("POST", "/issues/999/resume", None),
    ("POST", "/issues/999/cancel", None), ("GET", "/issues/999/figures", None), ("GET", "/issues/abc", None),
    ("GET", "/issues/0/status", None), ("GET", f"/issues/{2**63}", None),
]


def test_unknown_issues_are_json_404(api: TestClient) -> None:
    for method, path, body in UNKNOWN_ISSUE:
        response = api.request(method, "/api/v1" + path, json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["status"] == 404 and response.json()["error"].startswith("There is no issue")


def test_unknown_paths_and_methods(api: TestClient) -> None:
    assert api.get("/api/v1/nothing-here").json() == {"error": "There is no such path in the API.", "status": 404}
    wrong = api.get("/api/v1/issues/1/pause")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST" and wrong.json()["status"] == 405
    page = api.get("/archive/abc")  # pages outside the API keep their HTML error pages
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


def test_every_route_needs_a_live_token(client: TestClient, services: Services) -> None:
    issued = services.api_tokens.create("script")
    revoked = services.api_tokens.create("old script")
    services.api_tokens.revoke(revoked.id)
    routes = [("GET", "/issues"), ("POST", "/issues"), ("GET", "/issues/1/status"), ("POST", "/issues/1/cancel"),
              ("GET", "/articles"), ("GET", "/subscribers"), ("DELETE", "/subscribers/1"), ("GET", "/figures")]
    for headers in ({}, {"Authorization": "Bearer nl_nonsense"}, {"Authorization": f"Bearer {revoked.token}"},
                    {"Authorization": f"Basic {issued.token}"}):
        for method, path in routes:
            response = client.request(method, "/api/v1" + path, headers=headers, json={"compose": True})
            assert response.status_code == 401, (headers, path)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["status"] == 401
    good = {"Authorization": f"Bearer {issued.token}"}
    assert client.get("/api/v1/issues", headers=good).status_code == 200
    assert client.get("/api/v1/issues", headers=good).headers["cache-control"] == "no-store"


def test_the_schema_is_served_and_declares_bearer_auth(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http", "scheme": "bearer", "description": "an API token"}
    assert "/issues/{issue_id}/send" in schema["paths"] and "/subscribers/{subscriber_id}" in schema["paths"]
    assert schema["servers"] == [{"url": "/api/v1"}]
    subject = schema["components"]["schemas"]["IssuePatch"]["properties"]["subject"]["anyOf"][0]
    assert subject["maxLength"] == 300
    assert client.get("/openapi.json").status_code == 404  # the main app keeps its docs off
