"""`newsletter webhooks` as an operator runs it: create (secret once), list, log, replay, deliver, remove."""

from __future__ import annotations

import json
from pathlib import Path

from standardwebhooks import Webhook

from tests.cli_runner import Run, make_run
from tests.webhooks.receiver import receiver


def test_create_refuses_unknown_events_and_private_urls(run: Run) -> None:
    unknown = run("webhooks", "create", "--url", "https://hooks.example.com/", "--events", "sent,shipped", ok=False)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == ("error: unknown event 'shipped'; the events are subscribed, confirmed, "
                                      "unsubscribed, bounced, complained, sent, opened, clicked, issue.sent")
    private = run("webhooks", "create", "--url", "http://127.0.0.1:9/", "--events", "sent", ok=False)
    assert private.returncode == 1 and "NEWSLETTER_WEBHOOKS_ALLOW_PRIVATE=1" in private.stderr
    assert json.loads(run("webhooks", "list", "--json").stdout) == {"webhooks": []}


def test_a_reader_added_is_delivered_by_webhooks_deliver(tmp_path: Path) -> None:
    run = make_run(tmp_path, extra={"NEWSLETTER_WEBHOOKS_ALLOW_PRIVATE": "1"})  # the endpoint is on loopback
    with receiver() as endpoint:
        created = json.loads(run("webhooks", "create", "--url", endpoint.url, "--events", "subscribed,unsubscribed",
                                 "--json").stdout)
        assert set(created) >= {"id", "secret"} and created["secret"].startswith("whsec_")
        listed = json.loads(run("webhooks", "list", "--json").stdout)["webhooks"]
        assert [(w["id"], w["url"], w["events"]) for w in listed] == [
            (created["id"], endpoint.url, ["subscribed", "unsubscribed"])]

        run("subscribers", "add", "ann@example.net")
        delivered = json.loads(run("webhooks", "deliver", "--once", "--json").stdout)
        assert delivered == {"delivered": 1, "retrying": 0, "failed": 0}
        [request] = endpoint.requests
        payload = Webhook(created["secret"]).verify(request.body, request.headers)
        assert payload["type"] == "subscribed" and payload["data"]["email"] == "ann@example.net"

        log = json.loads(run("webhooks", "log", str(created["id"]), "--json").stdout)
        [message] = log["messages"]
        assert message["status"] == "delivered" and [a["code"] for a in message["log"]] == [200]
        replayed = json.loads(run("webhooks", "replay", message["id"], "--json").stdout)
        assert replayed == {"id": message["id"], "status": "pending"}
        run("webhooks", "deliver", "--once")
        assert len(endpoint.requests) == 2 and endpoint.requests[1].body == request.body

    removed = json.loads(run("webhooks", "remove", str(created["id"]), "--json").stdout)
    assert removed == {"id": created["id"], "removed": True}
    gone = run("webhooks", "log", str(created["id"]), ok=False)
    assert gone.returncode == 1 and gone.stderr.strip() == f"error: there is no webhook endpoint {created['id']}"


def test_the_worker_delivers_the_events_of_the_send_it_ran(tmp_path: Path) -> None:
    run = make_run(tmp_path, extra={"NEWSLETTER_WEBHOOKS_ALLOW_PRIVATE": "1"})
    with receiver(500) as endpoint:  # the first answer fails: retried later, not by this run
        created = json.loads(run("webhooks", "create", "--url", endpoint.url, "--events", "subscribed,sent",
                                 "--json").stdout)
        run("subscribers", "add", "ann@example.net")
        run("subscribers", "add", "bob@example.net")
        run("ingest", str(Path(__file__).resolve().parents[2] / "seeds"))
        issue = json.loads(run("issues", "compose", "--json").stdout)["id"]
        run("issues", "send", str(issue))
        run("worker", "--until-idle")
        verifier = Webhook(created["secret"])
        for request in endpoint.requests:
            verifier.verify(request.body, request.headers)
    # The first POST got the 500 and waits for its retry; the other three went out during the run.
    assert [r.answered for r in endpoint.requests] == [500, 200, 200, 200]
    log = json.loads(run("webhooks", "log", str(created["id"]), "--json").stdout)
    assert sorted(m["event"] for m in log["messages"]) == ["sent", "sent", "subscribed", "subscribed"]
    assert sorted(m["status"] for m in log["messages"]) == ["delivered", "delivered", "delivered", "pending"]


def test_disable_and_enable_pause_and_resume_an_endpoint(run: Run) -> None:
    created = json.loads(run("webhooks", "create", "--url", "https://hooks.example.com/", "--events", "sent",
                             "--json").stdout)
    paused = json.loads(run("webhooks", "disable", str(created["id"]), "--json").stdout)
    assert (paused["id"], paused["enabled"]) == (created["id"], False)
    assert "(disabled)" in run("webhooks", "list").stdout
    resumed = json.loads(run("webhooks", "enable", str(created["id"]), "--json").stdout)
    assert resumed["enabled"] is True and "(disabled)" not in run("webhooks", "list").stdout
    unknown = run("webhooks", "disable", "99", ok=False)
    assert unknown.returncode == 1 and "there is no webhook endpoint 99" in unknown.stderr
