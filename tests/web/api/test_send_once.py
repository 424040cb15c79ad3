"""The API's send sends an issue once: a second send is refused (409) and reaches nobody new."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery
from newsletter.issues.compose import compose
from newsletter.services import Services
from tests.factories import add_article, add_subscribers


def test_a_sent_issue_is_refused_and_a_reader_who_joined_since_gets_nothing(
    client: TestClient, services: Services
) -> None:
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
    add_article(services.sessions, "A piece")
    issue_id = compose(services.sessions, services.settings).issue_id
    add_subscribers(services.sessions, 2)
    sent = client.post(f"/api/v1/issues/{issue_id}/send")
    assert sent.status_code == 200 and sent.json()["queued"] == 2
    worker = Worker(services.store, services.backend, services.settings, services.links)
    assert worker.run(drain=True) == 2
    worker.run(drain=True)  # the queue ran dry: the issue is marked sent

    [late] = add_subscribers(services.sessions, 1, prefix="late")
    again = client.post(f"/api/v1/issues/{issue_id}/send", json={"force": True})
    assert again.status_code == 409
    assert f"cannot send issue {issue_id}: it is sent" in again.json()["error"].lower()

    assert worker.run(drain=True) == 0
    with services.sessions() as session:
        assert session.scalars(select(Delivery).where(Delivery.subscriber_id == late)).all() == []
    assert client.get(f"/api/v1/issues/{issue_id}").json()["status"] == "sent"
