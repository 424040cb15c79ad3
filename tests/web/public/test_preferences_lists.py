"""The preferences page lets the reader choose their lists: a box per list, checked = subscribed."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.lists.catalog import create_list
from newsletter.lists.models import FIRST_LIST_ID, Subscription, SubscriptionStatus
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services


def _boxes(html: str) -> dict[str, bool]:
    """The list checkboxes on the page: value -> checked."""
    return {m.group(1): bool(m.group(2)) for m in re.finditer(
        r'<input type="checkbox" name="lists" value="(\d+)"( checked)?>', html)}


def _state(services: Services, subscriber_id: int) -> tuple[SubscriberStatus, dict[int, SubscriptionStatus]]:
    with services.sessions() as session:
        reader = session.get(Subscriber, subscriber_id)
        assert reader is not None
        return reader.status, {row.list_id: row.status for row in session.scalars(
            select(Subscription).where(Subscription.subscriber_id == subscriber_id))}


def test_one_list_shows_no_boxes(client: TestClient, services: Services) -> None:
    ana = services.subscriptions.add_subscriber("ana@example.org", confirmed=True, source="cli")
    page = client.get(f"/preferences/{services.tokens.unsubscribe_token(ana.id)}")
    assert page.status_code == 200 and _boxes(page.text) == {} and "Your newsletters" not in page.text


def test_the_reader_ticks_their_lists_and_unticking_all_unsubscribes(client: TestClient, services: Services) -> None:
    b = create_list(services.sessions, "Tech Notes")
    c = create_list(services.sessions, "Events")
    ana = services.subscriptions.add_subscriber("ana@example.org", confirmed=True, source="cli")
    services.subscriptions.subscribe("ana@example.org", list_id=c.id)  # someone asked for Events on her behalf
    token = services.tokens.unsubscribe_token(ana.id)
    path = f"/preferences/{token}"

    page = client.get(path)
    assert "Tech Notes" in page.text and "Events" in page.text
    assert _boxes(page.text) == {str(FIRST_LIST_ID): True, str(b.id): False, str(c.id): False}

    # She joins Tech Notes (no confirmation needed: the link proves the mailbox) and leaves the
    # first list; Events, which she never asked for, goes.
    saved = client.post(f"{path}/lists", data={"lists": [str(b.id)]}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"{path}?saved=lists"
    page = client.get(saved.headers["location"])
    assert "Your choice of newsletters is saved." in page.text
    assert _boxes(page.text) == {str(FIRST_LIST_ID): False, str(b.id): True, str(c.id): False}
    assert _state(services, ana.id) == (SubscriberStatus.ACTIVE, {FIRST_LIST_ID: SubscriptionStatus.UNSUBSCRIBED,
                                                                  b.id: SubscriptionStatus.ACTIVE})
    sent_to_ana = [m for m in services.backend.sent if m.recipient == "ana@example.org"]  # type: ignore[attr-defined]
    assert len(sent_to_ana) == 1  # only the Events confirmation a stranger caused; joining sent nothing

    # Bad input is answered beside the boxes and changes nothing.
    for bad in (["999"], ["x"], [str(b.id), "-1"]):
        refused = client.post(f"{path}/lists", data={"lists": bad})
        assert refused.status_code == 400 and "choose from the newsletters listed" in refused.text.lower()
    assert _state(services, ana.id)[1][b.id] is SubscriptionStatus.ACTIVE

    # Unticking everything is unsubscribing, as the unsubscribe button does.
    left = client.post(f"{path}/lists", data={}, follow_redirects=False)
    assert left.status_code == 303
    assert _state(services, ana.id) == (SubscriberStatus.UNSUBSCRIBED, {
        FIRST_LIST_ID: SubscriptionStatus.UNSUBSCRIBED, b.id: SubscriptionStatus.UNSUBSCRIBED})
    page = client.get(path)
    assert "not subscribed" in page.text and _boxes(page.text) == {}
    again = client.post(f"{path}/lists", data={"lists": [str(b.id)]})
    assert again.status_code == 409  # a reader who left subscribes again through the form
    assert _state(services, ana.id)[0] is SubscriberStatus.UNSUBSCRIBED
    assert client.post("/preferences/not-a-token/lists", data={"lists": ["1"]}).status_code == 400
