"""Shapes the providers document that the first samples lacked (see samples/README.md): Postmark's
SubscriptionChange and its other bounce types, SendGrid's drop causes and account events, SNS
certificates in the China regions. Each is read the way django-anymail reads it and changes a
reader's standing the way the equivalent DSN, ARF report or unsubscribe does."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from newsletter.inbound.providers.events import ProviderEvent
from newsletter.inbound.providers.sendgrid import sendgrid_events as parse_sendgrid
from newsletter.services import Services
from tests.factories import mail_an_issue
from tests.inbound.providers.helpers import (
    POSTMARK_AUTH, FakeSnsHttp, basic, postmark_body, sample, sendgrid_headers, ses_sample, sns_notification,
    standing,
)

ANA = "ana@example.net"
UNTOUCHED = ("active", False)


def _postmark(web: TestClient, body: bytes) -> list[str]:
    answer = web.post("/webhooks/postmark", content=body, headers=basic(POSTMARK_AUTH))
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


# -- Postmark


def test_the_subscription_change_sample_a_hard_bounce_bounces_the_reader(hooked: Services, web: TestClient) -> None:
    mail_an_issue(hooked, ANA)
    lines = _postmark(web, postmark_body("postmark_subscription_change.json", ANA))  # SuppressionReason HardBounce
    assert "hard bounce" in lines[0]
    assert standing(hooked, ANA)[:2] == ("bounced", True)


@pytest.mark.parametrize(("reason", "expected"), [("ManualSuppression", ("unsubscribed", False)),
                                                  ("SpamComplaint", ("complained", True))])
def test_a_subscription_change_acts_by_its_suppression_reason(hooked: Services, web: TestClient, reason: str,
                                                              expected: tuple[str, bool]) -> None:
    mail_an_issue(hooked, ANA)
    _postmark(web, postmark_body("postmark_subscription_change.json", ANA, SuppressionReason=reason))
    assert standing(hooked, ANA)[:2] == expected


def test_a_reactivation_changes_nothing(hooked: Services, web: TestClient) -> None:
    mail_an_issue(hooked, ANA)
    body = postmark_body("postmark_subscription_change.json", ANA, SuppressSending=False, SuppressionReason=None)
    assert "ignored" in _postmark(web, body)[0]
    assert standing(hooked, ANA)[:2] == UNTOUCHED


@pytest.mark.parametrize(("kind", "expected"), [
    ("BadEmailAddress", ("bounced", True)),  # anymail: rejected, invalid: no address at all
    ("VirusNotification", UNTOUCHED),  # about the content, not the address
    ("ManuallyDeactivated", UNTOUCHED),  # Postmark's own policy
    ("Transient", UNTOUCHED),  # still retrying
])
def test_postmark_bounce_types_act_as_anymail_reads_them(hooked: Services, web: TestClient, kind: str,
                                                         expected: tuple[str, bool]) -> None:
    mail_an_issue(hooked, ANA)
    _postmark(web, postmark_body("postmark_bounce.json", ANA, Type=kind))
    assert standing(hooked, ANA)[:2] == expected


# -- SendGrid


def _dropped(**fields: object) -> ProviderEvent:
    documented = next(e for e in sample("sendgrid_events.json") if e["event"] == "dropped")
    return parse_sendgrid(json.dumps([dict(documented, **fields)]).encode())[0]


@pytest.mark.parametrize(("fields", "reason"), [
    ({}, "bounced"),  # the documented example: "Bounced Address"
    ({"reason": "Invalid Address"}, "invalid"),
    ({"reason": "Spam Reporting Address"}, "spam"),
    ({"reason": "Unsubscribed Address"}, "unsubscribed"),
    ({"reason": "Spam Content"}, "other"),
    ({"type": "expired", "reason": "Expired"}, "timed_out"),  # anymail: the cause may be in "type"
    ({"type": "blocked", "reason": "Bounced Address"}, "blocked"),
])
def test_a_sendgrid_drop_has_anymails_reject_reason(fields: dict[str, str], reason: str) -> None:
    event = _dropped(**fields)
    assert (event.event_type, event.reject_reason) == ("rejected", reason)


def test_an_invalid_address_drop_bounces_the_reader(hooked: Services, web: TestClient, sg_key, mid_week_now) -> None:
    mail_an_issue(hooked, ANA)
    documented = next(e for e in sample("sendgrid_events.json") if e["event"] == "dropped")
    body = json.dumps([dict(documented, email=ANA, reason="Invalid Address")]).encode()
    assert web.post("/webhooks/sendgrid", content=body,
                    headers=sendgrid_headers(sg_key, body, mid_week_now)).status_code == 200
    assert standing(hooked, ANA)[:2] == ("bounced", True)


def test_an_account_event_without_an_address_is_answered_and_ignored(web: TestClient, sg_key, mid_week_now) -> None:
    body = json.dumps([e for e in sample("sendgrid_events.json") if e["event"] == "account_status_change"]).encode()
    answer = web.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(sg_key, body, mid_week_now))
    assert answer.status_code == 200 and answer.json()["events"] == ["sendgrid unknown (no address): ignored"]


# -- SNS


def test_a_certificate_on_a_china_region_sns_host_is_used(hooked: Services, web: TestClient, sns_key,
                                                          sns_http: FakeSnsHttp) -> None:
    mail_an_issue(hooked, ANA)
    china = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-0123456789abcdef.pem"
    sns_http.certificates[china] = next(iter(sns_http.certificates.values()))
    envelope = json.loads(sns_notification(ses_sample("ses_bounce.json", ANA), sns_key))
    envelope["SigningCertURL"] = china  # not a signed field
    assert web.post("/webhooks/ses", content=json.dumps(envelope).encode()).status_code == 200
    assert sns_http.fetched == [china]
    assert standing(hooked, ANA)[:2] == ("bounced", True)
