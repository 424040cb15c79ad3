"""The JSON API through the real app: a send's status, pause, resume and cancel, behind HTTP Basic."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from newsletter.backends import SendResult, SendStatus
from newsletter.backends.memory import MemoryBackend
from newsletter.compose import compose
from newsletter.config import Settings
from newsletter.dispatch import Worker
from newsletter.models import IssueStatus, utcnow
from newsletter.services import Services
from newsletter.web import create_app
from tests.factories import add_article, add_subscribers

PASSWORD = "test-admin-password"  # the settings fixture's admin_password
AUTH = ("any-name", PASSWORD)
KEYS = {"id", "status", "queued", "sending", "sent", "deferred", "failed", "bounced", "skipped", "total",
        "rate_per_second", "eta_seconds"}


@pytest.fixture
def issue_id(services: Services) -> int:
    now = utcnow()
    for n in range(2):
        add_article(services.sessions, f"API headline {n}", now - timedelta(minutes=n))
    return compose(services.sessions, services.settings, now=now).issue_id


@pytest.fixture
def sending_id(services: Services, issue_id: int) -> int:
    """Five readers queued; no worker has run."""
    add_subscribers(services.sessions, 5)
    services.publisher.queue(issue_id)
    return issue_id


def status_of(client: TestClient, issue_id: int) -> dict[str, object]:
    response = client.get(f"/api/v1/issues/{issue_id}/status", auth=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, object] = response.json()
    return body


def test_status_after_a_worker_sent_some(client: TestClient, services: Services, sending_id: int) -> None:
    backend = services.backend
    assert isinstance(backend, MemoryBackend)
    backend.outcomes["reader3@example.net"] = SendResult(SendStatus.DEFERRED, 451, "try again later")
    backend.outcomes["reader4@example.net"] = SendResult(SendStatus.BOUNCED, 550, "no such user")
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)

    body = status_of(client, sending_id)
    assert set(body) == KEYS
    assert body["id"] == sending_id and body["status"] == "sending"  # the deferred one is still to go
    counts = {key: body[key] for key in ("queued", "sending", "sent", "deferred", "failed", "bounced", "skipped")}
    assert counts == {"queued": 0, "sending": 0, "sent": 3, "deferred": 1, "failed": 0, "bounced": 1, "skipped": 0}
    assert body["total"] == 5
    assert isinstance(body["rate_per_second"], float) and body["rate_per_second"] >= 0
    assert isinstance(body["eta_seconds"], int)  # whole seconds, as the CLI's --json gives them


def test_status_of_a_draft(client: TestClient, issue_id: int) -> None:
    body = status_of(client, issue_id)
    assert body["status"] == "draft" and body["total"] == 0 and body["queued"] == 0


def test_any_user_name_with_the_password(client: TestClient, issue_id: int) -> None:
    for user in ("", "editor", "ünïcode"):
        assert client.get(f"/api/v1/issues/{issue_id}/status", auth=(user, PASSWORD)).status_code == 200


def basic(value: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(value.encode()).decode()}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(f"editor:{PASSWORD}x"),
        basic("editor:"),
        basic(PASSWORD),  # no colon: no password at all
        {"Authorization": "Basic not-base64!"},
        {"Authorization": f"Bearer {PASSWORD}"},
    ],
    ids=["none", "wrong", "empty", "no-colon", "garbage", "bearer"],
)
def test_missing_or_wrong_credentials_are_401(client: TestClient, sending_id: int, headers: dict[str, str]) -> None:
    for method, path in (("GET", "status"), ("POST", "pause"), ("POST", "cancel")):
        response = client.request(method, f"/api/v1/issues/{sending_id}/{path}", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic ")
        assert response.json()["detail"].startswith("Authentication required")
    assert status_of(client, sending_id)["status"] == "sending"
    # Unauthenticated callers cannot tell which issues exist.
    assert client.get("/api/v1/issues/999/status", headers=headers).status_code == 401


def test_an_empty_admin_password_lets_nobody_in(settings: Settings, issue_id: int) -> None:
    services = Services.build(settings.model_copy(update={"admin_password": ""}))
    try:
        with TestClient(create_app(services)) as client:
            assert client.get(f"/api/v1/issues/{issue_id}/status", auth=("", "")).status_code == 401
    finally:
        services.close()


def test_unknown_issues_and_paths_are_json_404(client: TestClient) -> None:
    for method, path in (("GET", "999/status"), ("POST", "999/pause"), ("POST", "999/resume"),
                         ("POST", "999/cancel"), ("GET", "abc/status")):
        response = client.request(method, f"/api/v1/issues/{path}", auth=AUTH)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json"
        assert "detail" in response.json()
    assert client.get("/api/v1/issues/999/status", auth=AUTH).json() == {"detail": "there is no issue 999"}
    assert client.get("/api/v1/nothing-here").json() == {"detail": "Not Found"}
    wrong_method = client.get("/api/v1/issues/1/pause", auth=AUTH)
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json() == {"detail": "Method Not Allowed"}
    # Pages outside the API keep their HTML error pages.
    page = client.get("/archive/abc")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


def test_responses_are_not_cached(client: TestClient, issue_id: int) -> None:
    assert client.get(f"/api/v1/issues/{issue_id}/status", auth=AUTH).headers["cache-control"] == "no-store"
    assert client.get(f"/api/v1/issues/{issue_id}/status").headers["cache-control"] == "no-store"


def test_pause_resume_cancel(client: TestClient, services: Services, sending_id: int) -> None:
    paused = client.post(f"/api/v1/issues/{sending_id}/pause", auth=AUTH)
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused" and set(paused.json()) == KEYS

    resumed = client.post(f"/api/v1/issues/{sending_id}/resume", auth=AUTH)
    assert resumed.status_code == 200 and resumed.json()["status"] == "sending"

    cancelled = client.post(f"/api/v1/issues/{sending_id}/cancel", auth=AUTH)
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["skipped"] == 5 and body["queued"] == 0
    assert set(body) == KEYS | {"skipped"}
    assert services.store.counts(sending_id)["skipped"] == 5


@pytest.mark.parametrize(
    ("setup", "action"),
    [([], "pause"), ([], "resume"), ([], "cancel"), (["queue"], "resume"), (["queue", "cancel"], "pause"),
     (["queue", "cancel"], "resume"), (["queue", "cancel"], "cancel")],
)
def test_invalid_transitions_are_409(
    client: TestClient, services: Services, issue_id: int, setup: list[str], action: str
) -> None:
    add_subscribers(services.sessions, 2)
    for step in setup:
        getattr(services.publisher, step)(issue_id)
    before = status_of(client, issue_id)
    response = client.post(f"/api/v1/issues/{issue_id}/{action}", auth=AUTH)
    assert response.status_code == 409
    assert response.json() == {"detail": f"cannot {action} issue {issue_id}: it is {before['status']}"}
    assert status_of(client, issue_id) == before


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}],
)
def test_posts_from_other_sites_are_refused(
    client: TestClient, services: Services, sending_id: int, headers: dict[str, str]
) -> None:
    # A browser replays cached Basic credentials on a cross-site form post; the API refuses it.
    for action in ("pause", "cancel"):
        response = client.post(f"/api/v1/issues/{sending_id}/{action}", auth=AUTH, headers=headers)
        assert response.status_code == 403
        assert response.json()["detail"] == "Requests from other sites are not allowed."
    assert status_of(client, sending_id)["status"] == IssueStatus.SENDING.value
    # Reading the status is harmless, and the site's own pages may post.
    assert client.get(f"/api/v1/issues/{sending_id}/status", auth=AUTH, headers=headers).status_code == 200
    own = {"Origin": "http://newsletter.test", "Sec-Fetch-Site": "same-origin"}
    assert client.post(f"/api/v1/issues/{sending_id}/pause", auth=AUTH, headers=own).status_code == 200
