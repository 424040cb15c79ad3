"""The JSON API through the real app: a send's status, pause, resume and cancel, behind API tokens."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from newsletter.mail.backends import SendResult, SendStatus
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.issues.compose import compose
from newsletter.delivery.dispatch import Worker
from newsletter.issues.models import IssueStatus
from newsletter.services import Services
from tests.clock import mid_week
from tests.factories import add_article, add_subscribers

PASSWORD = "test-admin-password"  # the settings fixture's admin_password
KEYS = {"id", "status", "queued", "sending", "sent", "deferred", "failed", "bounced", "skipped", "total",
        "rate_per_second", "eta_seconds", "domains"}


class Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


@pytest.fixture
def auth(services: Services) -> Bearer:
    """A live API token for the calls."""
    return Bearer(services.api_tokens.create("tests").token)


@pytest.fixture
def issue_id(services: Services) -> int:
    now = mid_week()  # Wednesday noon: a minute before it is in its week too, whatever the day
    for n in range(2):
        add_article(services.sessions, f"API headline {n}", now - timedelta(minutes=n))
    return compose(services.sessions, services.settings, now=now).issue_id


@pytest.fixture
def sending_id(services: Services, issue_id: int) -> int:
    """Five readers queued; no worker has run."""
    add_subscribers(services.sessions, 5)
    services.publisher.queue(issue_id)
    return issue_id


def status_of(client: TestClient, issue_id: int, auth: Bearer) -> dict[str, object]:
    response = client.get(f"/api/v1/issues/{issue_id}/status", auth=auth)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, object] = response.json()
    return body


def test_status_after_a_worker_sent_some(
    client: TestClient, services: Services, sending_id: int, auth: Bearer
) -> None:
    backend = services.backend
    assert isinstance(backend, MemoryBackend)
    backend.outcomes["reader3@example.net"] = SendResult(SendStatus.DEFERRED, 451, "try again later")
    backend.outcomes["reader4@example.net"] = SendResult(SendStatus.BOUNCED, 550, "no such user")
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)

    body = status_of(client, sending_id, auth)
    assert set(body) == KEYS
    assert body["id"] == sending_id and body["status"] == "sending"  # the deferred one is still to go
    counts = {key: body[key] for key in ("queued", "sending", "sent", "deferred", "failed", "bounced", "skipped")}
    assert counts == {"queued": 0, "sending": 0, "sent": 3, "deferred": 1, "failed": 0, "bounced": 1, "skipped": 0}
    assert body["total"] == 5
    assert isinstance(body["rate_per_second"], float) and body["rate_per_second"] >= 0
    assert isinstance(body["eta_seconds"], int)  # whole seconds, as the CLI's --json gives them


def test_status_of_a_draft(client: TestClient, issue_id: int, auth: Bearer) -> None:
    body = status_of(client, issue_id, auth)
    assert body["status"] == "draft" and body["total"] == 0 and body["queued"] == 0


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": value}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("Bearer nl_not-a-token"),
        bearer("Bearer "),
        bearer("Basic " + base64.b64encode(f"editor:{PASSWORD}".encode()).decode()),  # the admin password is no key
        bearer(f"Bearer {PASSWORD}"),
        {"Authorization": "garbage"},
    ],
    ids=["none", "unknown", "empty", "basic-admin-password", "password-as-token", "garbage"],
)
def test_missing_or_wrong_credentials_are_401(
    client: TestClient, sending_id: int, headers: dict[str, str], auth: Bearer
) -> None:
    for method, path in (("GET", "status"), ("POST", "pause"), ("POST", "cancel")):
        response = client.request(method, f"/api/v1/issues/{sending_id}/{path}", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer ")
        assert response.json()["status"] == 401 and response.json()["error"]
    assert status_of(client, sending_id, auth)["status"] == "sending"
    # Unauthenticated callers cannot tell which issues exist.
    assert client.get("/api/v1/issues/999/status", headers=headers).status_code == 401


def test_a_revoked_token_is_refused(client: TestClient, services: Services, issue_id: int, auth: Bearer) -> None:
    assert client.get(f"/api/v1/issues/{issue_id}/status", auth=auth).status_code == 200
    [token] = services.api_tokens.list()
    services.api_tokens.revoke(token.id)
    assert client.get(f"/api/v1/issues/{issue_id}/status", auth=auth).status_code == 401


def test_unknown_issues_and_paths_are_json_404(client: TestClient, auth: Bearer) -> None:
    for method, path in (("GET", "999/status"), ("POST", "999/pause"), ("POST", "999/resume"),
                         ("POST", "999/cancel"), ("GET", "abc/status")):
        response = client.request(method, f"/api/v1/issues/{path}", auth=auth)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["status"] == 404 and body["error"], path
    assert "999" in client.get("/api/v1/issues/999/status", auth=auth).json()["error"]
    assert client.get("/api/v1/nothing-here").json()["status"] == 404
    wrong_method = client.get("/api/v1/issues/1/pause", auth=auth)
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["status"] == 405
    # Pages outside the API keep their HTML error pages.
    page = client.get("/archive/abc")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


def test_responses_are_not_cached(client: TestClient, issue_id: int, auth: Bearer) -> None:
    assert client.get(f"/api/v1/issues/{issue_id}/status", auth=auth).headers["cache-control"] == "no-store"
    assert client.get(f"/api/v1/issues/{issue_id}/status").headers["cache-control"] == "no-store"


def test_pause_resume_cancel(client: TestClient, services: Services, sending_id: int, auth: Bearer) -> None:
    paused = client.post(f"/api/v1/issues/{sending_id}/pause", auth=auth)
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused" and set(paused.json()) == KEYS

    resumed = client.post(f"/api/v1/issues/{sending_id}/resume", auth=auth)
    assert resumed.status_code == 200 and resumed.json()["status"] == "sending"

    cancelled = client.post(f"/api/v1/issues/{sending_id}/cancel", auth=auth)
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
    client: TestClient, services: Services, issue_id: int, setup: list[str], action: str, auth: Bearer
) -> None:
    add_subscribers(services.sessions, 2)
    for step in setup:
        getattr(services.publisher, step)(issue_id)
    before = status_of(client, issue_id, auth)
    response = client.post(f"/api/v1/issues/{issue_id}/{action}", auth=auth)
    assert response.status_code == 409
    body = response.json()
    assert body["status"] == 409 and action in body["error"] and before["status"] in body["error"]
    assert status_of(client, issue_id, auth) == before


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}],
)
def test_a_page_on_another_site_cannot_act_with_the_editors_browser(
    client: TestClient, services: Services, sending_id: int, headers: dict[str, str], auth: Bearer
) -> None:
    # Browsers attach cookies, never an Authorization: Bearer header, to a cross-site form post: an editor
    # logged in to the admin lends such a page nothing, so the API needs no CSRF check of its own.
    client.post("/admin/login", data={"password": PASSWORD})
    for action in ("pause", "cancel"):
        response = client.post(f"/api/v1/issues/{sending_id}/{action}", headers=headers)
        assert response.status_code == 401
    assert status_of(client, sending_id, auth)["status"] == IssueStatus.SENDING.value
