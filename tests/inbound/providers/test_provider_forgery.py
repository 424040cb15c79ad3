"""A forged, tampered, stale or replayed provider request changes nothing: it is refused (4xx)
before anything in it is read, and nothing is recorded. A provider whose secret is not set is
off (404). A repeated event is answered 200 and changes nothing. SNS subscriptions are
confirmed only when the confirmation verifies."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.config import Settings
from newsletter.inbound.providers.models import SeenProviderEvent
from newsletter.services import Services
from newsletter.web import create_app
from tests.factories import mail_an_issue
from tests.inbound.providers.helpers import (
    CERT_URL, MAILGUN_KEY, POSTMARK_AUTH, FakeSnsHttp, basic, mailgun_body, postmark_body, rsa_key,
    sample, sendgrid_events, sendgrid_headers, sendgrid_key, ses_sample, sign_sns, sns_notification, standing,
)

ANA = "ana@example.net"
UNTOUCHED = ("active", False)


def _seen(services: Services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(SeenProviderEvent)) or 0


def _unchanged(services: Services) -> None:
    assert standing(services, ANA)[:2] == UNTOUCHED
    assert "bounced" not in standing(services, ANA)[2]
    assert _seen(services) == 0


# -- SES / SNS


def _ses_forgeries(key, other_key) -> dict[str, Callable[[dict], bytes]]:
    def signed(message: dict, **changes: object) -> bytes:
        envelope = json.loads(sns_notification(message, key))
        envelope.update(changes)
        return json.dumps(sign_sns(envelope, key)).encode()

    def tampered(message: dict) -> bytes:
        envelope = json.loads(sns_notification(message, key))
        envelope["Message"] = envelope["Message"].replace("Permanent", "Permanent ")  # after signing
        return json.dumps(envelope).encode()

    return {
        "wrong key": lambda m: sns_notification(m, other_key),
        "tampered message": tampered,
        "cert URL on another host": lambda m: signed(m, SigningCertURL="https://evil.example.com/cert.pem"),
        "cert URL under amazonaws but not sns": lambda m: signed(
            m, SigningCertURL="https://sns.us-west-2.amazonaws.com.evil.example/cert.pem"),
        "cert URL over http": lambda m: signed(m, SigningCertURL=CERT_URL.replace("https:", "http:")),
        "wrong topic": lambda m: signed(m, TopicArn="arn:aws:sns:us-west-2:666666666666:Attacker"),
        "signature version 3": lambda m: json.dumps(
            dict(json.loads(sns_notification(m, key)), SignatureVersion="3")).encode(),
        "unsigned": lambda m: json.dumps({k: v for k, v in json.loads(sns_notification(m, key)).items()
                                          if k != "Signature"}).encode(),
    }


@pytest.mark.parametrize("case", list(_ses_forgeries(None, None)))
def test_a_forged_ses_notification_changes_nothing(hooked: Services, web: TestClient, sns_key,
                                                   sns_http: FakeSnsHttp, case: str) -> None:
    sent = mail_an_issue(hooked, ANA)
    body = _ses_forgeries(sns_key, rsa_key())[case](ses_sample("ses_bounce.json", ANA, sent[ANA].message_id))
    answer = web.post("/webhooks/ses", content=body)
    assert answer.status_code == 403, answer.text
    _unchanged(hooked)
    assert set(sns_http.fetched) <= {CERT_URL}  # nothing but AWS's certificate host is ever fetched


def test_the_sns_certificate_is_fetched_once(hooked: Services, web: TestClient, sns_key,
                                             sns_http: FakeSnsHttp) -> None:
    mail_an_issue(hooked, ANA)
    for n in range(3):
        body = sns_notification(ses_sample("ses_bounce.json", "other@example.net"), sns_key, message_id=f"m{n}")
        assert web.post("/webhooks/ses", content=body).status_code == 200
    assert sns_http.fetched == [CERT_URL]


def test_a_verified_subscription_confirmation_is_confirmed(web: TestClient, sns_key, sns_http: FakeSnsHttp) -> None:
    confirmation = sign_sns(sample("sns_subscription_confirmation.json"), sns_key)
    answer = web.post("/webhooks/ses", content=json.dumps(confirmation).encode())
    assert answer.status_code == 200, answer.text
    assert sns_http.confirmed == [confirmation["SubscribeURL"]]


@pytest.mark.parametrize("forgery", ["wrong key", "subscribe URL elsewhere", "wrong topic"])
def test_a_forged_subscription_confirmation_is_not_confirmed(web: TestClient, sns_key, sns_http: FakeSnsHttp,
                                                             forgery: str) -> None:
    confirmation = sample("sns_subscription_confirmation.json")
    if forgery == "subscribe URL elsewhere":  # signed, but we only ever GET AWS's SNS hosts
        confirmation["SubscribeURL"] = "https://internal.example.com/admin?drop=all"
    if forgery == "wrong topic":
        confirmation["TopicArn"] = "arn:aws:sns:us-west-2:666666666666:Attacker"
    body = json.dumps(sign_sns(confirmation, rsa_key() if forgery == "wrong key" else sns_key)).encode()
    assert web.post("/webhooks/ses", content=body).status_code == 403
    assert sns_http.confirmed == []


def test_a_replayed_ses_notification_changes_nothing(hooked: Services, web: TestClient, sns_key) -> None:
    sent = mail_an_issue(hooked, ANA)
    body = sns_notification(ses_sample("ses_bounce.json", ANA, sent[ANA].message_id), sns_key)
    assert web.post("/webhooks/ses", content=body).status_code == 200
    after_first = standing(hooked, ANA)
    again = web.post("/webhooks/ses", content=body)
    assert again.status_code == 200 and "already applied" in again.json()["events"][0]
    assert standing(hooked, ANA) == after_first and after_first[2].count("bounced") == 1


def test_a_body_that_is_not_sns_is_refused(web: TestClient) -> None:
    assert web.post("/webhooks/ses", content=b"not json").status_code == 422
    assert web.post("/webhooks/ses", content=b'{"Type": "Other"}').status_code == 422


# -- Mailgun


@pytest.mark.parametrize("case", ["wrong key", "stale timestamp", "future timestamp", "no signature", "bad hex"])
def test_a_forged_mailgun_request_changes_nothing(hooked: Services, web: TestClient, mid_week_now, case: str) -> None:
    mail_an_issue(hooked, ANA)
    when = {"stale timestamp": mid_week_now - timedelta(hours=1),
            "future timestamp": mid_week_now + timedelta(hours=1)}.get(case, mid_week_now)
    body = mailgun_body("mailgun_failed_permanent.json", ANA, when,
                        key="not-the-key" if case == "wrong key" else MAILGUN_KEY)
    data = json.loads(body)
    if case == "no signature":
        del data["signature"]
    if case == "bad hex":
        data["signature"]["signature"] = "zz" + data["signature"]["signature"][2:]
    answer = web.post("/webhooks/mailgun", content=json.dumps(data).encode())
    assert answer.status_code == 403, answer.text
    _unchanged(hooked)


def test_a_reused_mailgun_token_is_refused(hooked: Services, web: TestClient, mid_week_now) -> None:
    mail_an_issue(hooked, ANA)
    first = mailgun_body("mailgun_complained.json", "other@example.net", mid_week_now, token="t-1")
    assert web.post("/webhooks/mailgun", content=first).status_code == 200
    replay = mailgun_body("mailgun_failed_permanent.json", ANA, mid_week_now, token="t-1")  # same token, new body
    answer = web.post("/webhooks/mailgun", content=replay)
    assert answer.status_code == 403 and "token already used" in answer.json()["error"]
    assert standing(hooked, ANA)[:2] == UNTOUCHED


def test_a_mailgun_event_sent_again_with_a_new_token_changes_nothing(hooked: Services, web: TestClient,
                                                                    mid_week_now) -> None:
    mail_an_issue(hooked, ANA)
    for token in ("t-1", "t-2"):  # Mailgun's retry of the same event
        body = mailgun_body("mailgun_complained.json", ANA, mid_week_now, token=token)
        assert web.post("/webhooks/mailgun", content=body).status_code == 200
    assert standing(hooked, ANA)[2].count("complained") == 1


# -- Postmark


@pytest.mark.parametrize("headers", [{}, basic("postmark:wrong"), basic("other:s3cret-pass"),
                                     {"Authorization": "Bearer s3cret-pass"}, {"Authorization": "Basic !!!"}],
                         ids=["none", "wrong password", "wrong user", "not basic", "not base64"])
def test_a_postmark_request_without_the_credentials_changes_nothing(hooked: Services, web: TestClient,
                                                                    headers: dict[str, str]) -> None:
    mail_an_issue(hooked, ANA)
    answer = web.post("/webhooks/postmark", content=postmark_body("postmark_bounce.json", ANA), headers=headers)
    assert answer.status_code == 403
    _unchanged(hooked)


def test_a_repeated_postmark_bounce_changes_nothing(hooked: Services, web: TestClient) -> None:
    mail_an_issue(hooked, ANA)
    for _ in range(2):
        answer = web.post("/webhooks/postmark", content=postmark_body("postmark_bounce.json", ANA),
                          headers=basic(POSTMARK_AUTH))
        assert answer.status_code == 200
    assert standing(hooked, ANA)[2].count("bounced") == 1


# -- SendGrid


@pytest.mark.parametrize("case", ["wrong key", "tampered body", "stale timestamp", "no headers", "other timestamp"])
def test_a_forged_sendgrid_batch_changes_nothing(hooked: Services, web: TestClient, sg_key, mid_week_now,
                                                 case: str) -> None:
    mail_an_issue(hooked, ANA)
    body = sendgrid_events(ANA, "bounce", "spamreport")
    signer = sendgrid_key() if case == "wrong key" else sg_key
    when = mid_week_now - timedelta(hours=1) if case == "stale timestamp" else mid_week_now
    headers = sendgrid_headers(signer, body, when)
    if case == "tampered body":
        body = body.replace(b'"bounce"', b'"bounce" ')
    if case == "no headers":
        headers = {}
    if case == "other timestamp":  # the signature is over the timestamp too
        headers["X-Twilio-Email-Event-Webhook-Timestamp"] = str(int(mid_week_now.timestamp()) + 1)
    answer = web.post("/webhooks/sendgrid", content=body, headers=headers)
    assert answer.status_code == 403, answer.text
    _unchanged(hooked)


def test_a_replayed_sendgrid_batch_changes_nothing(hooked: Services, web: TestClient, sg_key, mid_week_now) -> None:
    mail_an_issue(hooked, ANA)
    body = sendgrid_events(ANA, "bounce")
    for _ in range(2):
        assert web.post("/webhooks/sendgrid", content=body,
                        headers=sendgrid_headers(sg_key, body, mid_week_now)).status_code == 200
    assert standing(hooked, ANA)[2].count("bounced") == 1


# -- off, limits, a dead database


def test_every_provider_is_off_until_its_secret_is_set(services: Services, sns_key) -> None:
    mail_an_issue(services, ANA)
    with TestClient(create_app(services, sns_http=FakeSnsHttp({}))) as client:
        for path in ("ses", "mailgun", "postmark", "sendgrid"):
            answer = client.post(f"/webhooks/{path}", content=b"{}")
            assert answer.status_code == 404 and "NEWSLETTER_" in answer.json()["error"]
    _unchanged(services)


def test_a_body_over_the_limit_is_refused_unread(web: TestClient) -> None:
    answer = web.post("/webhooks/sendgrid", content=b"[]", headers={"Content-Length": str(9 * 1024 * 1024)})
    assert answer.status_code == 413


def test_a_dead_database_answers_503_so_the_provider_retries(settings: Settings, tmp_path) -> None:
    dead = Services.build(settings.model_copy(update={
        "database_url": f"sqlite:///{tmp_path}/missing/dir/newsletter.db", "postmark_webhook_auth": POSTMARK_AUTH,
    }), run_migrations=False)
    try:
        with TestClient(create_app(dead)) as client:
            answer = client.post("/webhooks/postmark", content=postmark_body("postmark_bounce.json", ANA),
                                 headers=basic(POSTMARK_AUTH))
        assert answer.status_code == 503
    finally:
        dead.close()


def test_settings_refuse_a_bad_sendgrid_key_or_postmark_credentials(tmp_path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="SendGrid verification key"):
        Settings(data_dir=tmp_path, sendgrid_verification_key="bm90IGEga2V5")
    with pytest.raises(ValidationError, match="user:password"):
        Settings(data_dir=tmp_path, postmark_webhook_auth="no-colon")
