"""The owner's Webhooks pages: add (secret shown once), the delivery log with replay, remove."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.services import Services
from newsletter.webhooks.deliver import Answer, Due, deliver_due
from newsletter.webhooks.endpoints import list_endpoints
from newsletter.webhooks.models import WebhookMessage
from tests.web.admin.test_auth import EDITOR, OWNER, add_user, user_log_in
from tests.web.admin.test_issues import csrf, log_in


def test_add_see_the_log_replay_and_remove(client: TestClient, services: Services) -> None:
    log_in(client, "/admin/webhooks")
    token = csrf(client, "/admin/webhooks")
    refused = client.post("/admin/webhooks", data={"csrf_token": token, "url": "http://127.0.0.1/x",
                                                   "events": ["subscribed"]})
    assert refused.status_code == 400 and "NEWSLETTER_WEBHOOKS_ALLOW_PRIVATE" in refused.text
    assert 'value="subscribed" checked' in refused.text and list_endpoints(services.sessions) == []
    no_events = client.post("/admin/webhooks", data={"csrf_token": token, "url": "https://hooks.example.com/in"})
    assert no_events.status_code == 400 and "Name at least one event" in no_events.text

    added = client.post("/admin/webhooks", data={"csrf_token": token, "url": "https://hooks.example.com/in",
                                                 "events": ["subscribed", "bounced"]})
    assert added.status_code == 201
    [hook] = list_endpoints(services.sessions)
    assert re.search(r'id="new-secret">(whsec_[^<]+)<', added.text).group(1) == hook.secret  # type: ignore[union-attr]
    assert hook.events == ["subscribed", "bounced"]
    assert hook.secret not in client.get("/admin/webhooks").text  # the list does not show it again

    services.subscriptions.subscribe("ann@example.net")
    with services.sessions() as session:
        message = session.scalars(select(WebhookMessage)).one()
    deliver_due(services.sessions, allow_private=False, now=message.next_attempt_at,
                poster=lambda due, policy: Answer(500, "HTTP 500 Internal Server Error", 12))
    page = client.get(f"/admin/webhooks/{hook.id}")
    assert page.status_code == 200 and message.msg_id in page.text and "HTTP 500 Internal Server Error" in page.text
    assert hook.secret in page.text  # the owner can see it again on the endpoint's page

    replayed = client.post(f"/admin/webhooks/{hook.id}/messages/{message.msg_id}/replay", data={"csrf_token": token})
    assert replayed.status_code == 200 and "queued again" in replayed.text
    sent: list[Due] = []
    deliver_due(services.sessions, allow_private=False,  # by the database's clock: due at once
                poster=lambda due, policy: sent.append(due) or Answer(204, "", 3))  # type: ignore[func-returns-value]
    assert [d.msg_id for d in sent] == [message.msg_id]
    assert "delivered" in client.get(f"/admin/webhooks/{hook.id}").text

    paused = client.post(f"/admin/webhooks/{hook.id}/enabled", data={"csrf_token": token, "enabled": "0"})
    assert paused.status_code == 200 and "Paused: no events are added" in paused.text and "Resume" in paused.text
    assert list_endpoints(services.sessions)[0].enabled is False
    resumed = client.post(f"/admin/webhooks/{hook.id}/enabled", data={"csrf_token": token, "enabled": "1"})
    assert "Deliveries resumed." in resumed.text and list_endpoints(services.sessions)[0].enabled is True

    removed = client.post(f"/admin/webhooks/{hook.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 200 and list_endpoints(services.sessions) == []
    assert client.get(f"/admin/webhooks/{hook.id}").status_code == 404


def test_only_owners_and_with_a_csrf_token(client: TestClient, services: Services) -> None:
    add_user(services, OWNER, "owner")
    add_user(services, EDITOR, "editor")
    user_log_in(client, EDITOR)
    token = csrf(client)
    assert 'href="/admin/webhooks"' not in client.get("/admin/issues").text
    assert client.get("/admin/webhooks").status_code == 403
    posted = client.post("/admin/webhooks", data={"csrf_token": token, "url": "https://e.example/", "events": ["sent"]})
    assert posted.status_code == 403 and list_endpoints(services.sessions) == []
    client.post("/admin/logout", data={"csrf_token": token})
    user_log_in(client, OWNER)
    forged = client.post("/admin/webhooks", data={"csrf_token": "nope", "url": "https://e.example/", "events": ["sent"]})
    assert forged.status_code == 403 and list_endpoints(services.sessions) == []
