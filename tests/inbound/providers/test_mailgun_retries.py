"""Mailgun signs only a timestamp and a single-use token, and retries a request whose answer it
did not get with the same token and event. That exact retry is answered 200 and changes nothing
(also once its timestamp is stale); the token reused with another event is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.inbound.providers.models import SeenProviderEvent
from newsletter.services import Services
from tests.factories import mail_an_issue
from tests.inbound.providers.helpers import MAILGUN_KEY, mailgun_body, standing

ANA, BOB = "ana@example.net", "bob@example.net"


def _rows(services: Services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(SeenProviderEvent)) or 0


def test_an_exact_retry_of_an_applied_event_is_answered_200_and_changes_nothing(
        hooked: Services, web: TestClient, mid_week_now) -> None:
    sent = mail_an_issue(hooked, ANA)
    body = mailgun_body("mailgun_failed_permanent.json", ANA, mid_week_now, token="t-1",
                        message_id=sent[ANA].message_id)
    assert web.post("/webhooks/mailgun", content=body).status_code == 200  # Mailgun lost this answer
    after_first, rows = standing(hooked, ANA), _rows(hooked)
    assert after_first[:2] == ("bounced", True)
    retry = web.post("/webhooks/mailgun", content=body)
    assert retry.status_code == 200, retry.text
    assert "already applied, nothing changed" in retry.json()["events"][0]
    assert standing(hooked, ANA) == after_first and _rows(hooked) == rows


def test_a_retry_after_the_timestamp_went_stale_is_still_answered_200(hooked: Services, web: TestClient,
                                                                      mid_week_now) -> None:
    mail_an_issue(hooked, ANA)
    body = mailgun_body("mailgun_complained.json", ANA, mid_week_now, token="t-1")
    assert web.post("/webhooks/mailgun", content=body).status_code == 200
    with time_machine.travel(mid_week_now + timedelta(hours=4), tick=False):  # Mailgun's later retries
        retry = web.post("/webhooks/mailgun", content=body)
    assert retry.status_code == 200, retry.text
    assert standing(hooked, ANA)[2].count("complained") == 1


def test_a_stale_request_never_applied_is_refused(hooked: Services, web: TestClient, mid_week_now) -> None:
    mail_an_issue(hooked, ANA)
    body = mailgun_body("mailgun_complained.json", ANA, mid_week_now - timedelta(hours=1), token="t-9")
    answer = web.post("/webhooks/mailgun", content=body)
    assert answer.status_code == 403 and "stale" in answer.json()["error"]
    assert standing(hooked, ANA)[:2] == ("active", False) and _rows(hooked) == 0


def test_a_used_token_with_another_event_is_refused(hooked: Services, web: TestClient, mid_week_now) -> None:
    mail_an_issue(hooked, ANA)
    first = mailgun_body("mailgun_complained.json", ANA, mid_week_now, token="t-1")
    assert web.post("/webhooks/mailgun", content=first).status_code == 200
    # The same signature block (it covers only timestamp + token) with another event for the same reader.
    other = mailgun_body("mailgun_failed_permanent.json", ANA, mid_week_now, token="t-1")
    answer = web.post("/webhooks/mailgun", content=other)
    assert answer.status_code == 403 and "token already used" in answer.json()["error"]
    assert "bounced" not in standing(hooked, ANA)[2]
    # ... also once stale.
    with time_machine.travel(mid_week_now + timedelta(hours=4), tick=False):
        assert web.post("/webhooks/mailgun", content=other).status_code == 403
    assert "bounced" not in standing(hooked, ANA)[2]


def test_an_event_id_mailgun_reuses_on_another_day_is_a_new_event(hooked: Services, web: TestClient,
                                                                   mid_week_now) -> None:
    # Mailgun's event ids are unique within a day only.
    mail_an_issue(hooked, ANA, BOB)
    for token, address, moment in (("t-1", ANA, 1521233123.501324), ("t-2", BOB, 1521233123.501324 + 3 * 86400)):
        data = json.loads(mailgun_body("mailgun_complained.json", address, mid_week_now, token=token))
        data["event-data"]["timestamp"] = moment
        assert web.post("/webhooks/mailgun", content=json.dumps(data).encode()).status_code == 200
    assert standing(hooked, ANA)[:2] == ("complained", True)
    assert standing(hooked, BOB)[:2] == ("complained", True)


def test_a_subaccounts_parent_signature_verifies(hooked: Services, web: TestClient, mid_week_now) -> None:
    # A subaccount's domain: "signature" is made with the subaccount's key, "parent-signature"
    # with the primary account's, the one set here.
    mail_an_issue(hooked, ANA)
    data = json.loads(mailgun_body("mailgun_complained.json", ANA, mid_week_now, key="the-subaccounts-key"))
    block = data["signature"]
    block["parent-signature"] = hmac.new(MAILGUN_KEY.encode(), (block["timestamp"] + block["token"]).encode(),
                                         hashlib.sha256).hexdigest()
    assert web.post("/webhooks/mailgun", content=json.dumps(data).encode()).status_code == 200
    assert standing(hooked, ANA)[:2] == ("complained", True)
