"""The lists' contracts: `newsletter lists ...`, `--list SLUG`, and a list's own subscribe page."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.lists.catalog import create_list
from newsletter.lists.models import Subscription, SubscriptionStatus
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from tests.cli_runner import Run
from tests.web.public.test_pages import confirm_path


def test_lists_create_and_list_and_the_list_flag(run: Run) -> None:
    made = json.loads(run("lists", "create", "--name", "Tech Notes", "--from", "tech@example.org", "--json").stdout)
    assert made == {"id": 2, "slug": "tech-notes"}
    custom = json.loads(run("lists", "create", "--name", "Other", "--slug", "o-2", "--json").stdout)
    assert custom["slug"] == "o-2"
    taken = run("lists", "create", "--name", "Tech Notes", ok=False)
    assert taken.returncode == 1 and "tech-notes is taken" in taken.stderr
    listed = json.loads(run("lists", "list", "--json").stdout)["lists"]
    assert [(x["slug"], x["first"]) for x in listed] == [("the-weekly-briefing", True), ("tech-notes", False),
                                                        ("o-2", False)]

    run("subscribers", "add", "b@example.org", "--list", "tech-notes")
    run("subscribers", "add", "a@example.org")
    listed = {x["slug"]: x["subscribers"] for x in json.loads(run("lists", "list", "--json").stdout)["lists"]}
    assert listed == {"the-weekly-briefing": 1, "tech-notes": 1, "o-2": 0}
    exported = run("subscribers", "export", "--list", "tech-notes").stdout
    assert "b@example.org" in exported and "a@example.org" not in exported

    for args in (["subscribers", "add", "c@example.org"], ["subscribers", "export"], ["issues", "compose"],
                 ["sources", "add", "https://feeds.example.org/x.xml"]):
        unknown = run(*args, "--list", "nope", ok=False)
        assert unknown.returncode == 1 and unknown.stderr.strip().endswith("unknown list: nope")
        assert unknown.stderr.count("\n") == 1
    assert "c@example.org" not in run("subscribers", "export").stdout  # nothing changed
    assert json.loads(run("sources", "list", "--json").stdout)["sources"] == []


def test_a_lists_own_subscribe_page_subscribes_and_confirms(client: TestClient, services: Services) -> None:
    made = create_list(services.sessions, "Tech Notes")
    page = client.get("/n/tech-notes/subscribe")
    assert page.status_code == 200 and "Subscribe to Tech Notes" in page.text
    assert 'action="/n/tech-notes/subscribe"' in page.text
    assert client.get("/n/nope/subscribe").status_code == 404
    assert client.post("/n/nope/subscribe", data={"email": "x@example.org"}).status_code == 404

    answer = client.post("/n/tech-notes/subscribe", data={"email": "Reader@Example.org", "name": "Ana"})
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert client.get(confirm_path(services, "reader@example.org")).status_code == 200
    with services.sessions() as session:
        reader = session.scalars(select(Subscriber)).one()
        lists = {s.list_id: s.status for s in session.scalars(select(Subscription))}
    assert reader.status is SubscriberStatus.ACTIVE
    assert lists == {made.id: SubscriptionStatus.ACTIVE}  # only the list they chose
