"""One rulebook for an editor adding a reader: the admin form, the JSON API and `newsletter
subscribers add` give the same outcome for the same input (a new address, one already on the
list, an invalid one, a suppressed one), because all three call `Subscriptions.add_subscriber`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.readers.addresses import InvalidAddress
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.readers.subscriptions import AddOutcome, SubscriberSuppressed
from newsletter.services import Services
from tests.cli_runner import make_run
from tests.web.admin.test_issues import csrf, log_in

ENTRY_POINTS = ["admin", "api", "cli"]
# input -> the outcome every entry point must report
CASES = {
    "New@Example.org": "added",
    "taken@example.org": "existing",
    "not an address": "invalid",
    "gone@example.org": "suppressed",
}

Add = Callable[[str], str]


@pytest.fixture
def prepared(services: Services) -> Services:
    services.subscriptions.add("taken@example.org")
    with services.sessions.begin() as session:
        services.suppression.add(session, ["gone@example.org"], "erased")
    return services


def _admin(client: TestClient) -> Add:
    log_in(client, "/admin/subscribers/new")
    token = csrf(client, "/admin/subscribers/new")

    def add(email: str) -> str:
        answer = client.post("/admin/subscribers/new", data={"csrf_token": token, "email": email, "opted_in": "1"},
                             follow_redirects=False)
        if answer.status_code == 303:
            return "added"
        assert answer.status_code == 400
        error = answer.text.split('id="email-error">')[1].split("</p>")[0]
        for words, outcome in (("already a subscriber", "existing"), ("Not a valid address", "invalid"),
                               ("suppression list", "suppressed")):
            if words in error:
                return outcome
        raise AssertionError(error)

    return add


def _api(client: TestClient, services: Services) -> Add:
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token

    def add(email: str) -> str:
        answer = client.post("/api/v1/subscribers", json={"email": email, "confirmed": True})
        body = answer.json()
        if answer.status_code in (200, 201):
            assert answer.status_code == (201 if body["outcome"] == "added" else 200)
            return str(body["outcome"])
        if answer.status_code == 422:
            assert [f["field"] for f in body["fields"]] == ["email"]
            return "invalid"
        assert answer.status_code == 409 and "suppression list" in body["error"], body
        return "suppressed"

    return add


def _cli(tmp_path: Path, database_url: str, settings: Settings) -> Add:
    # The same database and the same secret key (the suppression list keeps keyed hashes).
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / "secret_key").write_text(settings.secret_key + "\n")
    run = make_run(tmp_path, database_url)

    def add(email: str) -> str:
        done = run("subscribers", "add", email, "--json", ok=False)
        if done.returncode == 0:
            return "added" if json.loads(done.stdout)["created"] else "existing"
        assert done.returncode == 1 and len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
        return "suppressed" if "suppression list" in done.stderr else "invalid"

    return add


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_the_same_input_gives_the_same_outcome_everywhere(
    entry: str, prepared: Services, client: TestClient, tmp_path: Path, database_url: str
) -> None:
    services = prepared
    add = {"admin": lambda: _admin(client), "api": lambda: _api(client, services),
           "cli": lambda: _cli(tmp_path, database_url, services.settings)}[entry]()
    assert {email: add(email) for email in CASES} == CASES
    with services.sessions() as session:
        found = {s.email: s.status for s in session.scalars(select(Subscriber))}
    # Normalised, active at once (the editor says they agreed); nothing else was added or changed.
    assert found == {"new@example.org": SubscriberStatus.ACTIVE, "taken@example.org": SubscriberStatus.ACTIVE}


def test_the_service_returns_one_result_or_a_domain_error(prepared: Services) -> None:
    subscriptions = prepared.subscriptions
    added = subscriptions.add_subscriber(" Ana@Example.org ", "Ana", confirmed=True, source="cli")
    assert (added.email, added.name, added.status, added.outcome, added.created) == (
        "ana@example.org", "Ana", SubscriberStatus.ACTIVE, AddOutcome.ADDED, True)
    again = subscriptions.add_subscriber("ana@example.org", confirmed=True, source="cli")
    assert (again.id, again.outcome, again.created, again.changed) == (added.id, AddOutcome.EXISTING, False, False)
    active = subscriptions.add_subscriber("ana@example.org", confirmed=False, source="api")
    assert active.outcome is AddOutcome.ALREADY_SUBSCRIBED
    pending = subscriptions.add_subscriber("bob@example.org", confirmed=False, source="api")
    assert (pending.status, pending.outcome, pending.created) == (
        SubscriberStatus.PENDING, AddOutcome.CONFIRMATION_SENT, True)
    for email in ("", "nobody"):
        with pytest.raises(InvalidAddress):
            subscriptions.add_subscriber(email, confirmed=True, source="cli")
    for confirmed in (True, False):
        with pytest.raises(SubscriberSuppressed, match="gone@example.org is on the suppression list"):
            subscriptions.add_subscriber("GONE@example.org", confirmed=confirmed, source="admin")
