"""Each provider's documented sample changes a reader's standing exactly as the equivalent DSN or
ARF report mailed back does: in each test one reader gets the provider's event through its
webhook, another the DSN/ARF through the inbound report path, and the two end up alike (status,
suppression, the kinds in their history, their delivery)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsletter.delivery.models import Delivery
from newsletter.inbound.providers.models import SeenProviderEvent
from newsletter.inbound.reports import ReportReader
from newsletter.mail.backends import OutgoingMessage
from newsletter.readers.models import Subscriber
from newsletter.services import Services
from tests.factories import mail_an_issue
from tests.inbound.providers.helpers import (
    POSTMARK_AUTH, arf, basic, dsn, mailgun_body, postmark_body, sendgrid_events, sendgrid_headers,
    ses_sample, sns_notification, standing,
)

ANA, BOB = "ana@example.net", "bob@example.net"  # Ana: the provider's event; Bob: the mailed report
SNS_HEADERS = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}


def _headers(message: OutgoingMessage) -> str:
    return message.data.partition(b"\r\n\r\n")[0].decode("ascii")


def _delivery(services: Services, address: str) -> str:
    with services.sessions() as session:
        status = session.scalar(select(Delivery.status).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                                .where(Subscriber.email == address))
        return status.value if status is not None else ""


def _mailed_report(services: Services, data: bytes, local_part: str = "bounces") -> None:
    ReportReader(services).handle(data, local_part)


def _alike(services: Services, expected: tuple[str, bool]) -> None:
    ana, bob = standing(services, ANA), standing(services, BOB)
    assert ana == bob
    assert ana[:2] == expected
    assert _delivery(services, ANA) == _delivery(services, BOB)


def _seen(services: Services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(SeenProviderEvent)) or 0


# -- SES through SNS


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_bounce_sample_bounces_the_reader_as_a_dsn_does(hooked: Services, web: TestClient, sns_key, version) -> None:
    sent = mail_an_issue(hooked, ANA, BOB)
    body = sns_notification(ses_sample("ses_bounce.json", ANA, sent[ANA].message_id), sns_key, version)
    answer = web.post("/webhooks/ses", content=body, headers=SNS_HEADERS)
    assert answer.status_code == 200, answer.text
    assert "hard bounce" in answer.json()["events"][0]
    _mailed_report(hooked, dsn(BOB, _headers(sent[BOB])))
    _alike(hooked, ("bounced", True))
    assert _delivery(hooked, ANA) == "bounced"  # pinned to the delivery by our signed Message-ID


def test_ses_bounce_without_our_message_id_goes_by_the_address(hooked: Services, web: TestClient, sns_key) -> None:
    sent = mail_an_issue(hooked, ANA, BOB)
    body = sns_notification(ses_sample("ses_bounce.json", ANA), sns_key)  # the sample's own "custom-message-ID"
    assert web.post("/webhooks/ses", content=body, headers=SNS_HEADERS).status_code == 200
    _mailed_report(hooked, dsn(BOB, _headers(sent[BOB])))
    assert standing(hooked, ANA) == standing(hooked, BOB)
    assert standing(hooked, ANA)[:2] == ("bounced", True)


def test_ses_complaint_sample_acts_as_an_arf_report(hooked: Services, web: TestClient, sns_key) -> None:
    sent = mail_an_issue(hooked, ANA, BOB)
    body = sns_notification(ses_sample("ses_complaint.json", ANA, sent[ANA].message_id), sns_key)
    assert web.post("/webhooks/ses", content=body, headers=SNS_HEADERS).status_code == 200
    _mailed_report(hooked, arf(BOB, _headers(sent[BOB])), "abuse")
    _alike(hooked, ("complained", True))


def test_three_transient_ses_bounces_suspend_as_three_soft_dsns_do(hooked: Services, web: TestClient, sns_key) -> None:
    sent = mail_an_issue(hooked, ANA, BOB)
    message = ses_sample("ses_bounce.json", ANA, sent[ANA].message_id)
    message["bounce"]["bounceType"] = "Transient"
    for n in range(3):
        body = sns_notification(message, sns_key, message_id=f"transient-{n}")
        assert web.post("/webhooks/ses", content=body, headers=SNS_HEADERS).status_code == 200
        _mailed_report(hooked, dsn(BOB, _headers(sent[BOB]), status="4.2.0"))
        assert standing(hooked, ANA) == standing(hooked, BOB)
    assert standing(hooked, ANA)[:2] == ("bounced", False)  # suspended, not suppressed
    assert standing(hooked, ANA)[2][-4:] == ["soft_bounce", "soft_bounce", "soft_bounce", "suspended"]


# -- Mailgun


def test_mailgun_permanent_failure_sample_bounces_as_a_dsn_does(hooked: Services, web: TestClient,
                                                                 mid_week_now) -> None:
    sent = mail_an_issue(hooked, ANA, BOB)
    body = mailgun_body("mailgun_failed_permanent.json", ANA, mid_week_now, message_id=sent[ANA].message_id)
    answer = web.post("/webhooks/mailgun", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    _mailed_report(hooked, dsn(BOB, _headers(sent[BOB])))
    _alike(hooked, ("bounced", True))


def test_mailgun_complaint_sample_acts_as_an_arf_report(hooked: Services, web: TestClient, mid_week_now) -> None:
    sent = mail_an_issue(hooked, ANA, BOB)
    body = mailgun_body("mailgun_complained.json", ANA, mid_week_now)  # Mailgun's own Message-ID: by address
    assert web.post("/webhooks/mailgun", content=body).status_code == 200
    _mailed_report(hooked, arf(BOB, _headers(sent[BOB])), "abuse")
    assert standing(hooked, ANA) == standing(hooked, BOB)
    assert standing(hooked, ANA)[:2] == ("complained", True)


def test_a_temporary_mailgun_failure_is_not_a_bounce(hooked: Services, web: TestClient, mid_week_now) -> None:
    mail_an_issue(hooked, ANA)
    data = json.loads(mailgun_body("mailgun_failed_permanent.json", ANA, mid_week_now))
    data["event-data"]["severity"] = "temporary"  # Mailgun is still retrying: a delayed DSN
    answer = web.post("/webhooks/mailgun", content=json.dumps(data).encode())
    assert answer.status_code == 200 and "ignored" in answer.json()["events"][0]
    assert standing(hooked, ANA)[:2] == ("active", False)


# -- Postmark


def test_postmark_hard_bounce_sample_bounces_as_a_dsn_does(hooked: Services, web: TestClient) -> None:
    sent = mail_an_issue(hooked, ANA, BOB)
    answer = web.post("/webhooks/postmark", content=postmark_body("postmark_bounce.json", ANA),
                      headers=basic(POSTMARK_AUTH))
    assert answer.status_code == 200, answer.text
    # Postmark does not return our Message-ID: the address names the reader, as a VERP-less DSN
    # naming only the address would not be believed; so Bob's DSN returns his Message-ID.
    _mailed_report(hooked, dsn(BOB, _headers(sent[BOB])))
    assert standing(hooked, ANA) == standing(hooked, BOB)
    assert standing(hooked, ANA)[:2] == ("bounced", True)


def test_postmark_spam_complaint_sample_acts_as_an_arf_report(hooked: Services, web: TestClient) -> None:
    sent = mail_an_issue(hooked, ANA, BOB)
    answer = web.post("/webhooks/postmark", content=postmark_body("postmark_spam_complaint.json", ANA),
                      headers=basic(POSTMARK_AUTH))
    assert answer.status_code == 200
    _mailed_report(hooked, arf(BOB, _headers(sent[BOB])), "abuse")
    assert standing(hooked, ANA) == standing(hooked, BOB)
    assert standing(hooked, ANA)[:2] == ("complained", True)


# -- SendGrid


def test_sendgrid_bounce_sample_bounces_as_a_dsn_does(hooked: Services, web: TestClient, sg_key, mid_week_now) -> None:
    sent = mail_an_issue(hooked, ANA, BOB)
    body = sendgrid_events(ANA, "bounce", message_id=sent[ANA].message_id)
    answer = web.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(sg_key, body, mid_week_now))
    assert answer.status_code == 200, answer.text
    _mailed_report(hooked, dsn(BOB, _headers(sent[BOB])))
    _alike(hooked, ("bounced", True))


def test_sendgrid_spamreport_sample_acts_as_an_arf_report(hooked: Services, web: TestClient, sg_key,
                                                          mid_week_now) -> None:
    sent = mail_an_issue(hooked, ANA, BOB)
    body = sendgrid_events(ANA, "spamreport", message_id=sent[ANA].message_id)
    assert web.post("/webhooks/sendgrid", content=body,
                    headers=sendgrid_headers(sg_key, body, mid_week_now)).status_code == 200
    _mailed_report(hooked, arf(BOB, _headers(sent[BOB])), "abuse")
    _alike(hooked, ("complained", True))


def test_the_whole_sendgrid_sample_batch_acts_only_on_what_changes_standing(
        hooked: Services, web: TestClient, sg_key, mid_week_now) -> None:
    mail_an_issue(hooked, ANA)
    body = sendgrid_events(ANA)  # bounce, blocked, delivered, deferred, dropped, processed, click, open, spamreport, ...
    answer = web.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(sg_key, body, mid_week_now))
    assert answer.status_code == 200
    lines = answer.json()["events"]
    assert len(lines) == 13 and sum("ignored" in line for line in lines) == 7
    # The docs' blocked example carries the bounce example's sg_event_id: one event, applied once.
    assert "already applied" in lines[1]
    status, suppressed, kinds = standing(hooked, ANA)
    assert (status, suppressed) == ("complained", True)  # bounced, then the spam report
    assert kinds.count("bounced") == 2 and kinds.count("complained") == 1  # the bounce and the "Bounced Address" drop
    assert _seen(hooked) == 5  # bounce, dropped, spamreport, unsubscribe, group_unsubscribe


def test_an_event_for_an_address_we_do_not_know_changes_nothing(hooked: Services, web: TestClient) -> None:
    answer = web.post("/webhooks/postmark", content=postmark_body("postmark_bounce.json", "stranger@example.net"),
                      headers=basic(POSTMARK_AUTH))
    assert answer.status_code == 200 and "no such reader" in answer.json()["events"][0]
    assert _seen(hooked) == 0


def test_a_postmark_soft_bounce_counts_as_a_soft_dsn_does(hooked: Services, web: TestClient) -> None:
    sent = mail_an_issue(hooked, ANA, BOB)
    data = json.loads(postmark_body("postmark_bounce.json", ANA))
    data.update(Type="SoftBounce", TypeCode=4096)
    assert web.post("/webhooks/postmark", content=json.dumps(data).encode(), headers=basic(POSTMARK_AUTH)).status_code == 200
    _mailed_report(hooked, dsn(BOB, _headers(sent[BOB]), status="4.2.0"))
    assert standing(hooked, ANA) == standing(hooked, BOB)
    assert standing(hooked, ANA)[:2] == ("active", False) and standing(hooked, ANA)[2][-1] == "soft_bounce"


def test_a_provider_unsubscribe_acts_as_the_readers_own_unsubscribe_link(hooked: Services, web: TestClient,
                                                                        sg_key, mid_week_now) -> None:
    mail_an_issue(hooked, ANA, BOB)
    body = sendgrid_events(ANA, "unsubscribe")
    assert web.post("/webhooks/sendgrid", content=body,
                    headers=sendgrid_headers(sg_key, body, mid_week_now)).status_code == 200
    with hooked.sessions() as session:
        bob_id = session.scalar(select(Subscriber.id).where(Subscriber.email == BOB))
    assert bob_id is not None
    hooked.subscriptions.unsubscribe(bob_id)
    assert standing(hooked, ANA) == standing(hooked, BOB)
    assert standing(hooked, ANA)[:2] == ("unsubscribed", False)


def test_ses_delivery_notifications_are_answered_and_ignored(hooked: Services, web: TestClient, sns_key) -> None:
    mail_an_issue(hooked, ANA)
    delivery = ses_sample("ses_bounce.json", ANA)
    delivery["notificationType"] = "Delivery"
    answer = web.post("/webhooks/ses", content=sns_notification(delivery, sns_key), headers=SNS_HEADERS)
    assert answer.status_code == 200 and "ignored" in answer.json()["events"][0]
    assert standing(hooked, ANA)[:2] == ("active", False) and _seen(hooked) == 0
