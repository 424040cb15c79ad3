"""The admin Lists page (the lists with reader counts, create a list) and the list on the add-reader
form and the import page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from newsletter.lists.catalog import all_lists, create_list
from newsletter.lists.models import FIRST_LIST_ID, Subscription, SubscriptionStatus
from newsletter.readers.models import Subscriber
from newsletter.services import Services
from tests.factories import add_subscribers
from tests.web.admin.test_import import ref_of, upload
from tests.web.admin.test_issues import csrf, log_in
from tests.web.admin.test_sources import flash


def _lists_of(services: Services, address: str) -> dict[int, SubscriptionStatus]:
    with services.sessions() as session:
        reader = session.scalars(select(Subscriber).where(Subscriber.email == address)).one()
        return {row.list_id: row.status for row in session.scalars(
            select(Subscription).where(Subscription.subscriber_id == reader.id))}


def test_the_lists_page_shows_the_lists_and_creates_one(client: TestClient, services: Services) -> None:
    assert client.get("/admin/lists", follow_redirects=False).status_code in (303, 401)  # a login first
    log_in(client, "/admin/lists")
    add_subscribers(services.sessions, 3)
    page = client.get("/admin/lists")
    assert page.status_code == 200 and 'href="/admin/lists"' in page.text  # in the navigation
    assert "the-weekly-briefing" in page.text and "<td>3</td>" in page.text

    token = csrf(client, "/admin/lists")
    assert client.post("/admin/lists", data={"name": "Tech Notes"}).status_code == 403  # no CSRF token
    made = client.post("/admin/lists", data={"name": "Tech Notes", "from_address": "Tech <tech@example.org>",
                                             "csrf_token": token})
    assert made.status_code == 200 and "Created Tech Notes: its subscribe page is /n/tech-notes/subscribe." in flash(made)
    assert 'href="/n/tech-notes/subscribe"' in made.text and "Tech &lt;tech@example.org&gt;" in made.text

    for data, status, words in (({"name": "Tech Notes"}, 409, "tech-notes is taken"),
                                ({"name": "X", "slug": "Bad Slug"}, 400, "lowercase letters"),
                                ({"name": ""}, 400, "give the list a name"),
                                ({"name": "Y", "from_address": "nobody"}, 400, "must be an address")):
        refused = client.post("/admin/lists", data={**data, "csrf_token": token})
        assert refused.status_code == status and words in refused.text
        assert refused.text.count('value="' + data["name"] + '"') >= 1  # what was typed stays
    assert [item.slug for item in all_lists(services.sessions)] == ["the-weekly-briefing", "tech-notes"]


def test_the_add_reader_form_and_the_import_take_a_list(client: TestClient, services: Services) -> None:
    b = create_list(services.sessions, "Tech Notes")
    log_in(client, "/admin/subscribers/new")
    form = client.get("/admin/subscribers/new")
    assert '<option value="tech-notes">Tech Notes</option>' in form.text
    token = csrf(client, "/admin/subscribers/new")
    added = client.post("/admin/subscribers/new", data={"email": "ana@example.org", "opted_in": "1",
                                                        "list": "tech-notes", "csrf_token": token})
    assert "ana@example.org added to Tech Notes: active at once." in flash(added)
    assert _lists_of(services, "ana@example.org") == {b.id: SubscriptionStatus.ACTIVE}
    again = client.post("/admin/subscribers/new", data={"email": "ana@example.org", "opted_in": "1",
                                                        "csrf_token": token})  # the first list
    assert again.status_code == 400 and "already a subscriber" in again.text
    unknown = client.post("/admin/subscribers/new", data={"email": "bo@example.org", "list": "nope",
                                                          "csrf_token": token})
    assert unknown.status_code == 400 and "Unknown list: nope." in unknown.text
    assert "bo@example.org" not in str(services.backend.sent)  # type: ignore[attr-defined]

    preview = upload(client, "readers.csv", b"email\ncy@example.org\n")
    assert '<option value="tech-notes">Tech Notes</option>' in preview.text
    done = client.post("/admin/import/run", data={"csrf_token": csrf(client, "/admin/import"),
                                                  "ref": ref_of(preview.text), "list": "tech-notes"})
    assert done.status_code == 200 and "Imported into Tech Notes." in done.text
    assert _lists_of(services, "cy@example.org") == {b.id: SubscriptionStatus.PENDING}  # until they confirm
    [mail] = [m for m in services.backend.sent if m.recipient == "cy@example.org"]  # type: ignore[attr-defined]
    assert b"Tech Notes" in mail.data
    assert FIRST_LIST_ID not in _lists_of(services, "cy@example.org")
