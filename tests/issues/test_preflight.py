"""Preflight: the checks on a rendered issue, queue refusing on errors, the CLI and the admin panel."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsletter.issues.compose import compose
from newsletter.issues.preflight import check_issue
from newsletter.issues.publishing import PreflightFailed
from newsletter.services import Services
from tests.clock import mid_week
from tests.factories import add_article, add_subscribers
from tests.web.admin.test_issues import csrf, deliveries, log_in

NOW = mid_week()  # Wednesday noon: minutes or days either side stay in its week, whatever the day
SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def make_issue(services: Services, *articles: dict[str, object]) -> int:
    for n, fields in enumerate(articles or ({},)):
        fields = {"title": f"Headline {n}", "url": f"https://example.org/a/{n}", **fields}
        title = str(fields.pop("title"))
        add_article(services.sessions, title, published_at=NOW - timedelta(minutes=n + 1), **fields)
    return compose(services.sessions, services.settings, now=NOW).issue_id


def codes(findings: list) -> set[str]:  # type: ignore[type-arg]
    return {f.code for f in findings}


def test_a_clean_issue_has_only_warnings(services: Services) -> None:
    issue = make_issue(services, {"image_url": "https://example.org/i.jpg", "standfirst": "Why it matters."})
    report = check_issue(services, issue)
    assert report.errors == []
    # the fixture's base_url is http and no DKIM keys are set; DNS hints are always given
    assert {"base-url-http", "dkim-none", "dns-dmarc", "dns-spf"} <= codes(report.warnings)
    dmarc = next(f for f in report.warnings if f.code == "dns-dmarc")
    assert '_dmarc.example.org TXT "v=DMARC1; p=none; rua=mailto:postmaster@example.org"' in dmarc.message
    assert not codes(report.warnings) & {"image-alt", "html-large", "subject-long"}


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"url": "/articles/relative"}, "link-relative"),
        ({"url": "javascript:alert(1)"}, "link-scheme"),
        ({"image_url": "/img/local.jpg"}, "image-url"),
    ],
)
def test_bad_links_and_images_are_errors(services: Services, fields: dict[str, object], code: str) -> None:
    issue = make_issue(services, {}, fields)
    report = check_issue(services, issue)
    assert code in codes(report.errors)
    assert any(str(next(iter(fields.values()))) in f.message for f in report.errors)


def test_an_image_without_alt_text_is_a_warning(services: Services) -> None:
    issue = make_issue(services, {}, {"title": "", "image_url": "https://example.org/no-alt.jpg"})
    report = check_issue(services, issue)
    assert "image-alt" in codes(report.warnings)
    assert "image-url" not in codes(report.errors)


def test_a_huge_issue_is_clipped_by_gmail(services: Services) -> None:
    paragraphs = [f"Paragraph {i} " + "lorem ipsum dolor sit amet " * 40 for i in range(120)]  # ~130 KB
    issue = make_issue(services, {"paragraphs": paragraphs})
    report = check_issue(services, issue)
    assert "html-too-large" in codes(report.errors)
    assert "102 KB" in next(f for f in report.errors if f.code == "html-too-large").message


def test_dkim_alignment(services: Services) -> None:
    issue = make_issue(services)
    services.settings.__dict__["dkim_keys"] = "s1=/etc/dkim/s1.key"  # validated at load; not read here
    services.settings.__dict__["dkim_domain"] = "other.example"
    assert "dkim-alignment" in codes(check_issue(services, issue).errors)
    services.settings.__dict__["dkim_domain"] = "example.org"
    report = check_issue(services, issue)
    assert "dkim-alignment" not in codes(report.errors) and "dkim-none" not in codes(report.warnings)


def test_queue_refuses_on_errors_unless_forced(services: Services) -> None:
    issue = make_issue(services, {"url": "javascript:alert(1)"})
    add_subscribers(services.sessions, 3)
    with pytest.raises(PreflightFailed, match="link-scheme"):
        services.publisher.queue(issue)
    assert deliveries(services, issue) == 0
    assert services.publisher.queue(issue, force=True).queued == 3


def test_queue_sends_a_clean_issue(services: Services) -> None:
    issue = make_issue(services)
    add_subscribers(services.sessions, 2)
    assert services.publisher.queue(issue).queued == 2


def test_cli_check_json_and_send_force(run) -> None:  # type: ignore[no-untyped-def]
    run("ingest", str(SEEDS))
    run("subscribers", "add", "r@example.net")
    issue = json.loads(run("issues", "compose", "--json").stdout)["id"]
    done = run("issues", "check", str(issue), "--json")
    report = json.loads(done.stdout)
    assert set(report) == {"errors", "warnings"} and report["errors"] == []
    assert all(set(item) == {"code", "message"} for item in report["warnings"])
    assert "dns-dmarc" in {item["code"] for item in report["warnings"]}
    text = run("issues", "check", str(issue)).stdout
    assert "0 error(s)" in text
    run("issues", "send", str(issue), "--force")


def test_admin_panel_shows_findings_and_send_anyway(client: TestClient, services: Services) -> None:
    issue = make_issue(services, {"url": "javascript:alert(1)"})
    add_subscribers(services.sessions, 2)
    log_in(client)
    page = client.get(f"/admin/issues/{issue}").text
    assert "<h2>Preflight</h2>" in page
    errors = re.search(r'id="preflight-errors">(.*?)</ul>', page, re.S)
    assert errors and "link-scheme" in errors.group(1)
    assert "dkim-none" in page and 'name="force"' in client.get(f"/admin/issues/{issue}/send").text
    token = csrf(client, f"/admin/issues/{issue}")
    refused = client.post(f"/admin/issues/{issue}/send", data={"csrf_token": token})
    assert "failed preflight" in refused.text and deliveries(services, issue) == 0
    client.post(f"/admin/issues/{issue}/send", data={"csrf_token": token, "force": "1"})
    assert deliveries(services, issue) == 2


def test_admin_panel_on_a_clean_issue(client: TestClient, services: Services) -> None:
    issue = make_issue(services)
    log_in(client)
    page = client.get(f"/admin/issues/{issue}").text
    assert 'id="preflight-ok"' in page and 'name="force"' not in page
