"""Bounce, complaint and auto-reply classification, measured on a real corpus.

The corpus (tests/data/bounces/, from Sisimai's set-of-emails, BSD-2-Clause) holds 201 bounces
from 69 MTAs/providers with their expected recipient and status, and 4 feedback reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from newsletter.inbound.bounces import InboundReport, classify_message
from tests.cli_runner import Run

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "bounces"


def _samples(folder: Path) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = json.loads((folder / "labels.json").read_text())["samples"]
    return samples


def expected_class(label: dict[str, Any]) -> str:
    """The class our policy gives a labelled recipient.

    The labels' `bounce_type` is the status code's first digit. Our policy (issue #6) also
    counts a full mailbox as soft: status 5.2.2, reply 552, or Sisimai's reason "mailboxfull"
    when the status is one of its made-up x.0.9xx codes (the mail then has no code at all).
    """
    status, reply = label["status"], label["reply_code"]
    pseudo = len(status.split(".")[-1]) == 3 and status.split(".")[-1].startswith("9")
    if status.startswith("5.2.2") or reply == "552" or (label["reason"] == "mailboxfull" and pseudo):
        return "soft"
    return str(label["bounce_type"])


def measure() -> dict[str, Any]:
    """Recipients found and classes right over every labelled recipient of the corpus."""
    total = found = classed = extra = 0
    for sample in _samples(CORPUS):
        report = classify_message((CORPUS / sample["file"]).read_bytes())
        got = {item.address: item for item in report.recipients}
        labels = sample.get("recipients", [sample])
        extra += len(set(got) - {label["recipient"].lower() for label in labels})
        for label in labels:
            total += 1
            item = got.get(label["recipient"].lower())
            if item is not None:
                found += 1
                classed += item.bounce_class == expected_class(label)
    return {"total": total, "recipients": found / total, "classes": classed / total, "extra": extra}


def test_corpus_recipients_and_classes() -> None:
    figures = measure()
    print(
        f"\nbounce corpus: {figures['total']} recipients, recipients right {figures['recipients']:.1%}, "
        f"classes right {figures['classes']:.1%}, extra addresses {figures['extra']}"
    )
    assert figures["recipients"] >= 0.90
    assert figures["classes"] >= 0.90


def test_final_failures_are_bounces() -> None:
    reports = [classify_message((CORPUS / s["file"]).read_bytes()) for s in _samples(CORPUS) if s["action"] == "failed"]
    # A few samples Sisimai calls "failed" are delay warnings ("Warning: message ... delayed 24 hours"):
    # reported as delayed, not as bounces.
    kinds = ["bounce" if r.kind == "bounce" or (r.recipients and r.recipients[0].action == "delayed") else r.kind
             for r in reports]
    assert kinds.count("bounce") / len(kinds) >= 0.95


@pytest.mark.parametrize("sample", _samples(CORPUS / "arf"), ids=lambda s: s["file"])
def test_feedback_reports_are_complaints_about_the_right_recipient(sample: dict[str, Any]) -> None:
    report = classify_message((CORPUS / "arf" / sample["file"]).read_bytes())
    assert report.kind == "complaint"
    assert [item.address for item in report.recipients] == [sample["recipient"].lower()]
    assert report.feedback_type == sample["feedback_type"]


def test_a_delay_notice_is_not_a_bounce() -> None:
    # rfc3464-07 carries "Action: delayed": the MTA is still trying.
    report = classify_message((CORPUS / "rfc3464-07.eml").read_bytes())
    assert report.kind == "other"
    assert report.recipients and all(r.action == "delayed" and r.bounce_class == "soft" for r in report.recipients)


def test_dsn_status_decides_hard_and_soft() -> None:
    def dsn(status: str, diagnostic: str) -> bytes:
        return (
            "From: MAILER-DAEMON@mx.example.net\nTo: bounces@example.org\nSubject: Undelivered Mail\n"
            'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
            "--B\nContent-Type: text/plain\n\nSorry.\n\n--B\nContent-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; Reader@Example.com\n"
            f"Action: failed\nStatus: {status}\nDiagnostic-Code: smtp; {diagnostic}\n\n--B--\n"
        ).encode()

    cases = {
        ("5.1.1", "550 5.1.1 user unknown"): "hard",
        ("5.2.2", "550 5.2.2 mailbox full"): "soft",
        ("5.2.3", "552 message size exceeds quota"): "soft",
        ("4.4.1", "421 try again later"): "soft",
    }
    for (status, diagnostic), want in cases.items():
        report = classify_message(dsn(status, diagnostic))
        assert report.kind == "bounce"
        assert [(r.address, r.bounce_class, r.status) for r in report.recipients] == [
            ("reader@example.com", want, status)
        ]


def test_verp_names_the_recipient_when_the_bounce_does_not() -> None:
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nTo: bounces+x@example.org\n"
        b"Subject: Mail delivery failed\n\nThe mail could not be delivered: 550 mailbox unavailable\n"
    )
    report = classify_message(raw, verp_recipient="reader@example.com")
    assert report.kind == "bounce"
    assert [(r.address, r.bounce_class) for r in report.recipients] == [("reader@example.com", "hard")]


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-replied\nSubject: Re: This week",
        "X-Autoreply: yes\nSubject: Re: This week",
        "Precedence: auto_reply\nSubject: Re: This week",
        "Subject: Out of Office: This week",
        "Subject: Automatic reply: This week",
    ],
)
def test_auto_replies_are_never_bounces(headers: str) -> None:
    raw = f"From: reader@example.com\nTo: bounces@example.org\n{headers}\n\nI am away until Monday.\n".encode()
    assert classify_message(raw).kind == "auto-reply"


def test_auto_submitted_no_is_not_an_auto_reply() -> None:
    raw = b"From: reader@example.com\nTo: bounces@example.org\nAuto-Submitted: no\nSubject: Hello\n\nHi.\n"
    assert classify_message(raw).kind == "other"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \x80\x81",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\n\n--x\n"
        b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n%%%not base64\n",
        b"From: =?utf-8?b?broken\nSubject: =?x-unknown?q?=ZZ?=\nContent-Type: text/plain; charset=no-such-charset\n\n\xff",
        b"Content-Type: multipart/mixed; boundary=\"never-closed\"\n\n--never-closed\nContent-Type: message/rfc822\n\n",
    ],
)
def test_broken_input_is_other_and_never_raises(raw: bytes) -> None:
    report = classify_message(raw)
    assert isinstance(report, InboundReport)
    assert report.kind == "other"


def test_cli_prints_json_and_needs_no_database(run: Run) -> None:
    done = run("bounces", "parse", str(CORPUS / "rfc3464-01.eml"), "--json")
    data = json.loads(done.stdout)
    assert data["kind"] == "bounce"
    assert data["recipients"][0] == {
        "address": "userunknown@bouncehammer.jp", "class": "hard", "status": "5.1.1",
        "reason": "user unknown", "action": "failed",
    }
