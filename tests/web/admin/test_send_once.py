"""The admin's Send button sends an issue once: a second send is refused and reaches nobody new."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.delivery.dispatch import Worker
from newsletter.delivery.models import Delivery
from newsletter.issues.compose import compose
from newsletter.services import Services
from tests.factories import add_subscribers
from tests.web.admin.test_issues import NOW, add_articles, csrf, log_in


def test_a_sent_issue_is_refused_and_a_reader_who_joined_since_gets_nothing(
    client: TestClient, services: Services
) -> None:
    add_articles(services)
    issue_id = compose(services.sessions, services.settings, now=NOW).issue_id
    add_subscribers(services.sessions, 2)
    log_in(client)
    token = csrf(client, f"/admin/issues/{issue_id}")
    first = client.post(f"/admin/issues/{issue_id}/send", data={"csrf_token": token})
    assert "Queued 2 deliveries" in first.text
    worker = Worker(services.store, services.backend, services.settings, services.links)
    assert worker.run(drain=True) == 2
    worker.run(drain=True)  # the queue ran dry: the issue is marked sent

    [late] = add_subscribers(services.sessions, 1, prefix="late")
    again = client.post(f"/admin/issues/{issue_id}/send", data={"csrf_token": token})
    assert again.status_code == 200
    assert f"Not sent: cannot send issue {issue_id}: it is sent" in again.text

    assert worker.run(drain=True) == 0
    with services.sessions() as session:
        assert session.scalars(select(Delivery).where(Delivery.subscriber_id == late)).all() == []
