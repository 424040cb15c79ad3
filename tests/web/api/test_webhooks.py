"""The JSON API's webhooks: create (secret once), list, the log, replay, delete; bad input is 422."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.services import Services
from newsletter.webhooks.deliver import Answer, deliver_due
from newsletter.webhooks.models import WebhookMessage


@pytest.fixture
def api(client: TestClient, services: Services) -> TestClient:
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
    return client


def test_create_list_log_replay_delete(api: TestClient, services: Services) -> None:
    created = api.post("/api/v1/webhooks", json={"url": "https://hooks.example.com/in", "events": ["subscribed"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["subscribed"]
    assert created.headers["location"].endswith(f"/webhooks/{body['id']}")
    listed = api.get("/api/v1/webhooks").json()
    assert listed["total"] == 1 and "secret" not in listed["items"][0]

    services.subscriptions.subscribe("ann@example.net")
    with services.sessions() as session:
        message = session.scalars(select(WebhookMessage)).one()
    deliver_due(services.sessions, allow_private=False, now=message.next_attempt_at,
                poster=lambda due, policy: Answer(None, "could not connect to hooks.example.com", 5))
    log = api.get(f"/api/v1/webhooks/{body['id']}/messages").json()
    [item] = log["items"]
    assert log["total"] == 1 and item["id"] == message.msg_id and item["event"] == "subscribed"
    assert item["status"] == "pending" and item["attempts"] == 1 and item["log"][0]["code"] is None
    assert '"email":"ann@example.net"' in item["payload"]

    replayed = api.post(f"/api/v1/webhooks/{body['id']}/replay", json={"message_id": message.msg_id})
    assert replayed.status_code == 200 and replayed.json()["attempts"] == 0
    assert api.post(f"/api/v1/webhooks/{body['id']}/replay", json={"message_id": "msg_nothere"}).status_code == 404
    assert api.post(f"/api/v1/webhooks/{body['id']}/replay", json={"message_id": "x\n"}).status_code == 422

    paused = api.patch(f"/api/v1/webhooks/{body['id']}", json={"enabled": False})
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    assert api.get(f"/api/v1/webhooks/{body['id']}").json()["enabled"] is False
    assert api.patch(f"/api/v1/webhooks/{body['id']}", json={"enabled": "sometimes"}).status_code == 422
    assert api.patch("/api/v1/webhooks/999", json={"enabled": True}).status_code == 404

    assert api.delete(f"/api/v1/webhooks/{body['id']}").status_code == 204
    assert api.delete(f"/api/v1/webhooks/{body['id']}").status_code == 404
    assert api.get(f"/api/v1/webhooks/{body['id']}/messages").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "http://127.0.0.1/x", "events": ["sent"]}, "url"),
    ({"url": "file:///etc/passwd", "events": ["sent"]}, "url"),
    ({"url": "https://hooks.example.com/", "events": ["sent", "shipped"]}, "events"),
    ({"url": "https://hooks.example.com/", "events": []}, "events"),
])
def test_bad_input_is_422_and_changes_nothing(api: TestClient, body: dict[str, object], field: str) -> None:
    answer = api.post("/api/v1/webhooks", json=body)
    assert answer.status_code == 422, answer.text
    assert [f["field"] for f in answer.json()["fields"]] == [field]
    assert api.get("/api/v1/webhooks").json()["total"] == 0


def test_needs_a_token(client: TestClient) -> None:
    assert client.get("/api/v1/webhooks").status_code == 401
