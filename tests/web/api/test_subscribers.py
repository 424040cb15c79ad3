"""The JSON API's subscribers through the real app: double opt-in or confirmed adds, search, history,
edits, and GDPR erasure that keeps the address off the list for good."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from newsletter.mail.backends.memory import MemoryBackend
from newsletter.delivery.dispatch import Worker
from newsletter.readers.models import SubscriberStatus
from newsletter.services import Services
from tests.factories import add_article, add_subscribers


@pytest.fixture
def api(client: TestClient, services: Services) -> TestClient:
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
    return client


def test_double_opt_in_and_confirmed_adds(api: TestClient, services: Services) -> None:
    backend = services.backend
    assert isinstance(backend, MemoryBackend)
    pending = api.post("/api/v1/subscribers", json={"email": "Ada@Example.com", "name": "Ada"})
    assert pending.status_code == 201, pending.text
    body = pending.json()
    assert (body["email"], body["name"], body["status"], body["outcome"]) == (
        "ada@example.com", "Ada", "pending", "confirmation_sent")
    assert pending.headers["location"] == f"/api/v1/subscribers/{body['id']}"
    assert [m.recipient for m in backend.sent] == ["ada@example.com"]  # the confirmation email

    added = api.post("/api/v1/subscribers", json={"email": "bob@example.com", "confirmed": True})
    assert added.status_code == 201 and added.json()["status"] == "active" and added.json()["outcome"] == "added"
    assert added.json()["confirmed_at"] is not None
    assert len(backend.sent) == 1  # nobody is mailed for a confirmed add

    again = api.post("/api/v1/subscribers", json={"email": "bob@example.com", "confirmed": True})
    assert again.status_code == 200 and again.json()["outcome"] == "existing" and again.json()["id"] == added.json()["id"]
    active_again = api.post("/api/v1/subscribers", json={"email": "bob@example.com"})
    assert active_again.status_code == 200 and active_again.json()["outcome"] == "already_subscribed"

    detail = api.get(f"/api/v1/subscribers/{body['id']}").json()
    assert detail["source"] == "api" and detail["deliveries"] == []
    assert [e["kind"] for e in detail["history"]] == ["subscribed"]


def test_search_filter_and_paginate(api: TestClient, services: Services) -> None:
    add_subscribers(services.sessions, 3)
    add_subscribers(services.sessions, 2, status=SubscriberStatus.UNSUBSCRIBED, prefix="gone")
    everyone = api.get("/api/v1/subscribers").json()
    assert everyone["total"] == 5 and len(everyone["items"]) == 5
    gone = api.get("/api/v1/subscribers", params={"status": "unsubscribed"}).json()
    assert gone["total"] == 2 and {s["email"] for s in gone["items"]} == {"gone0@example.net", "gone1@example.net"}
    found = api.get("/api/v1/subscribers", params={"q": "READER1"}).json()
    assert [s["email"] for s in found["items"]] == ["reader1@example.net"]
    page = api.get("/api/v1/subscribers", params={"limit": 2, "offset": 4}).json()
    assert page["total"] == 5 and len(page["items"]) == 1
    assert api.get("/api/v1/subscribers", params={"status": "nobody"}).status_code == 422


def test_history_shows_deliveries(api: TestClient, services: Services) -> None:
    reader = api.post("/api/v1/subscribers", json={"email": "cy@example.com", "confirmed": True}).json()
    article = add_article(services.sessions, "Delivered piece")
    issue = api.post("/api/v1/issues", json={"subject": "For Cy", "article_ids": [article]}).json()
    api.post(f"/api/v1/issues/{issue['id']}/send")
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    detail = api.get(f"/api/v1/subscribers/{reader['id']}").json()
    assert [(d["issue_id"], d["subject"], d["status"], d["error"]) for d in detail["deliveries"]] == [
        (issue["id"], "For Cy", "sent", None)]


def test_edit(api: TestClient) -> None:
    ada = api.post("/api/v1/subscribers", json={"email": "ada@example.com", "confirmed": True}).json()
    api.post("/api/v1/subscribers", json={"email": "bob@example.com", "confirmed": True})
    renamed = api.patch(f"/api/v1/subscribers/{ada['id']}", json={"name": "Ada L.", "email": "ada@example.org"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["email"]) == ("Ada L.", "ada@example.org")
    left = api.patch(f"/api/v1/subscribers/{ada['id']}", json={"status": "unsubscribed"})
    assert left.status_code == 200 and left.json()["status"] == "unsubscribed"
    assert "status_changed" in [e["kind"] for e in api.get(f"/api/v1/subscribers/{ada['id']}").json()["history"]]

    taken = api.patch(f"/api/v1/subscribers/{ada['id']}", json={"email": "bob@example.com"})
    assert taken.status_code == 409 and taken.json()["status"] == 409
    bad = api.patch(f"/api/v1/subscribers/{ada['id']}", json={"email": "not an address"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "email"
    assert api.get(f"/api/v1/subscribers/{ada['id']}").json()["email"] == "ada@example.org"


def test_erase_is_for_good(api: TestClient, services: Services) -> None:
    reader = api.post("/api/v1/subscribers", json={"email": "dee@example.com", "name": "Dee"}).json()
    erased = api.delete(f"/api/v1/subscribers/{reader['id']}")
    assert erased.status_code == 204 and erased.content == b""
    assert api.get(f"/api/v1/subscribers/{reader['id']}").status_code == 404
    assert api.delete(f"/api/v1/subscribers/{reader['id']}").status_code == 404
    assert api.get("/api/v1/subscribers", params={"q": "dee"}).json()["total"] == 0
    sent_before = len(services.backend.sent)  # type: ignore[attr-defined]
    for confirmed in (False, True):
        back = api.post("/api/v1/subscribers", json={"email": "DEE@example.com", "confirmed": confirmed})
        assert back.status_code == 409
        assert back.json() == {"error": "dee@example.com is on the suppression list (it bounced, complained or "
                                        "was erased).", "status": 409}
    assert len(services.backend.sent) == sent_before  # type: ignore[attr-defined]  # no confirmation either
    assert api.get("/api/v1/subscribers").json()["total"] == 0


BAD_SUBSCRIBERS: list[tuple[dict[str, Any], str]] = [
    ({}, "email"),
    ({"email": "nobody"}, "email"),
    ({"email": "a@example.com", "name": "n" * 201}, "name"),
    ({"email": "a@example.com", "confirmed": "maybe"}, "confirmed"),
    ({"email": "a@example.com", "status": "active"}, "status"),
]


def test_bad_subscribers_name_the_field(api: TestClient) -> None:
    for body, field in BAD_SUBSCRIBERS:
        response = api.post("/api/v1/subscribers", json=body)
        assert response.status_code == 422, response.text
        assert field in [f["field"] for f in response.json()["fields"]], body
    assert api.get("/api/v1/subscribers").json()["total"] == 0


def test_unknown_subscribers_are_404(api: TestClient) -> None:
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        response = api.request(method, "/api/v1/subscribers/777", json=body)
        assert response.status_code == 404, method
        assert response.json() == {"error": "There is no subscriber 777.", "status": 404}
