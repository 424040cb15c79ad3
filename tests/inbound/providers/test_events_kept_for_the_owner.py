"""Verified provider events that changed nothing for want of a reader, and the provider's own
refusals (rejected, failed) or types we cannot read, are listed with the inbound reports that
changed nothing: `newsletter bounces unverified`. Routine events (delivered, opened...) are not."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from newsletter.config import Settings
from newsletter.services import Services
from tests.cli_runner import Run, make_run
from tests.factories import mail_an_issue
from tests.inbound.providers.helpers import (
    POSTMARK_AUTH, basic, postmark_body, sendgrid_events, sendgrid_headers,
)

ANA, STRANGER = "ana@example.net", "stranger@example.net"


def _listed(settings: Settings, tmp_path: Path) -> list[dict[str, object]]:
    (tmp_path / "cli").mkdir(exist_ok=True)
    run: Run = make_run(tmp_path / "cli", settings.database)  # the command, on the same database
    return json.loads(run("bounces", "unverified", "--json").stdout)["reports"]


def test_a_bounce_for_an_address_we_do_not_know_is_listed_for_the_owner(
        hooked: Services, web: TestClient, settings: Settings, tmp_path: Path) -> None:
    answer = web.post("/webhooks/postmark", content=postmark_body("postmark_bounce.json", STRANGER),
                      headers=basic(POSTMARK_AUTH))
    assert answer.status_code == 200 and "no such reader" in answer.json()["events"][0]
    [report] = _listed(settings, tmp_path)
    assert (report["kind"], report["sent_to"], report["addresses"]) == ("bounced", "/webhooks/postmark", [STRANGER])
    assert "no reader with this address" in str(report["reason"]) and "Test bounce details" in str(report["reason"])


def test_refusals_and_unreadable_events_are_listed_routine_ones_are_not(
        hooked: Services, web: TestClient, sg_key, mid_week_now, settings: Settings, tmp_path: Path) -> None:
    mail_an_issue(hooked, ANA)
    body = json.dumps([dict(event, reason="Spam Content") if event["event"] == "dropped" else event
                       for event in json.loads(sendgrid_events(ANA))]).encode()
    assert web.post("/webhooks/sendgrid", content=body,
                    headers=sendgrid_headers(sg_key, body, mid_week_now)).status_code == 200
    kinds = sorted(str(report["kind"]) for report in _listed(settings, tmp_path))
    assert kinds == ["rejected", "unknown"]  # the Spam Content drop, the account event; not delivered, open...
