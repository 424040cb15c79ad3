"""The suppression list: bounced and erased addresses are never mailed or imported again."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select


from newsletter.mail.backends import SendResult, SendStatus
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.issues.compose import compose
from newsletter.delivery.dispatch import Worker
from newsletter.readers.importer import import_csv
from newsletter.delivery.models import Delivery
from newsletter.readers.models import Subscriber, Suppression
from newsletter.readers.subscriptions import SubscribeOutcome, SubscriberSuppressed
from tests.factories import add_article


def test_an_erased_reader_leaves_only_a_hash_and_is_never_mailed_or_imported_again(services, tmp_path):
    subscriber, _ = services.subscriptions.add("ana@example.org", "Ana")
    add_article(services.sessions, "A piece")
    issue = compose(services.sessions, services.settings).issue_id
    services.publisher.queue(issue)

    assert services.subscriptions.erase("Ana@Example.org")

    with services.sessions() as session:
        assert session.scalar(select(Subscriber).where(Subscriber.email == "ana@example.org")) is None
        assert session.scalars(select(Delivery)).all() == []
        [kept] = session.scalars(select(Suppression)).all()
        assert "ana" not in kept.address_hash and kept.reason == "erased"
    csv = tmp_path / "back.csv"
    csv.write_text("email,name\nana@example.org,Ana\nbob@example.org,Bob\n")
    report = import_csv(services.sessions, csv, confirmed=True, suppression=services.suppression)
    assert report.added == 1 and "suppression list" in report.rejected[0][1]
    with pytest.raises(SubscriberSuppressed, match="suppression list"):
        services.subscriptions.add("ana@example.org")
    memory = services.backend
    assert isinstance(memory, MemoryBackend)
    before = len(memory.sent)
    assert services.subscriptions.subscribe("ana@example.org").outcome is SubscribeOutcome.SUPPRESSED
    assert len(memory.sent) == before  # not even a confirmation email


def test_a_hard_bounce_puts_the_address_on_the_suppression_list(services):
    services.subscriptions.add("gone@example.org")
    add_article(services.sessions, "A piece")
    issue = compose(services.sessions, services.settings).issue_id
    services.publisher.queue(issue)
    backend = MemoryBackend(services.settings, outcomes={"gone@example.org": SendResult(SendStatus.BOUNCED, 550, "no")})
    Worker(services.store, backend, services.settings, services.links).run(drain=True)
    with services.sessions() as session:
        assert services.suppression.suppressed(session, ["gone@example.org"]) == {"gone@example.org"}


def test_subscribers_show_and_erase_from_the_command_line(run):
    run("subscribers", "add", "ana@example.net", "--name", "Ana")
    shown = json.loads(run("subscribers", "show", "ana@example.net", "--json").stdout)
    assert (shown["status"], shown["suppressed"]) == ("active", False)
    erased = json.loads(run("subscribers", "erase", "ana@example.net", "--json").stdout)
    assert erased == {"email": "ana@example.net", "erased": True, "suppressed": True}
    gone = run("subscribers", "show", "ana@example.net", ok=False)
    assert gone.returncode == 1 and "suppressed" in gone.stderr
    again = run("subscribers", "add", "ana@example.net", ok=False)
    assert again.returncode == 1 and "suppression list" in again.stderr
