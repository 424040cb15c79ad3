"""The JSON API's tags, custom fields and segments: read and write a reader's tags and fields,
define fields, save and count segments, and send an issue to a segment."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from newsletter.readers.models import SubscriberStatus
from newsletter.services import Services
from tests.factories import add_subscribers, this_weeks_issue


@pytest.fixture
def api(client: TestClient, services: Services) -> TestClient:
    client.headers["Authorization"] = "Bearer " + services.api_tokens.create("tests").token
    return client


def test_a_readers_tags_and_fields_are_read_and_written(api: TestClient, services: Services) -> None:
    created = api.post("/api/v1/fields", json={"key": "age", "label": "Age", "type": "number"})
    assert created.status_code == 201 and created.json() == {"id": 1, "key": "age", "label": "Age", "type": "number"}
    api.post("/api/v1/fields", json={"key": "since", "label": "Member since", "type": "date"})
    assert api.post("/api/v1/fields", json={"key": "age", "label": "Again", "type": "text"}).status_code == 409
    assert [f["key"] for f in api.get("/api/v1/fields").json()["items"]] == ["age", "since"]

    [reader] = add_subscribers(services.sessions, 1)
    changed = api.patch(f"/api/v1/subscribers/{reader}", json={"tags": ["VIP", "press"], "fields": {
        "age": 41, "since": "2020-02-29"}})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["tags"], changed.json()["fields"]) == (["press", "vip"], {"age": 41.0, "since": "2020-02-29"})
    detail = api.get(f"/api/v1/subscribers/{reader}").json()
    assert (detail["tags"], detail["fields"]) == (["press", "vip"], {"age": 41.0, "since": "2020-02-29"})
    assert api.get("/api/v1/subscribers").json()["items"][0]["tags"] == ["press", "vip"]

    # A bad value changes nothing at all, the name included.
    for bad, field in (({"fields": {"age": "old"}}, "fields"), ({"fields": {"nope": 1}}, "fields"),
                       ({"tags": ["a;b"]}, "tags"), ({"fields": {"since": "29/02/2020"}}, "fields")):
        refused = api.patch(f"/api/v1/subscribers/{reader}", json={"name": "Changed", **bad})
        assert refused.status_code == 422, refused.text
        assert refused.json()["fields"][0]["field"] == field
    after = api.get(f"/api/v1/subscribers/{reader}").json()
    assert (after["name"], after["tags"], after["fields"]["age"]) == ("Reader 0", ["press", "vip"], 41.0)

    cleared = api.patch(f"/api/v1/subscribers/{reader}", json={"tags": [], "fields": {"age": None}}).json()
    assert (cleared["tags"], cleared["fields"]) == ([], {"since": "2020-02-29"})


def test_segments_are_saved_counted_and_sent_to(api: TestClient, services: Services) -> None:
    vips = add_subscribers(services.sessions, 3, prefix="vip")
    add_subscribers(services.sessions, 2, prefix="plain")
    [pending] = add_subscribers(services.sessions, 1, status=SubscriberStatus.PENDING, prefix="pending")
    for reader in [*vips, pending]:
        assert api.patch(f"/api/v1/subscribers/{reader}", json={"tags": ["vip"]}).status_code == 200
    flt = {"tags": [{"match": "any", "tags": ["vip"]}]}
    assert api.post("/api/v1/segments/count", json={"filter": flt}).json() == {"count": 3}
    created = api.post("/api/v1/segments", json={"name": "VIPs", "filter": flt})
    assert created.status_code == 201, created.text
    segment = created.json()
    assert (segment["name"], segment["list"], segment["count"], segment["filter"]) == ("VIPs", "the-weekly-briefing", 3, flt)
    assert created.headers["location"] == f"/api/v1/segments/{segment['id']}"
    assert api.get(f"/api/v1/segments/{segment['id']}").json()["count"] == 3
    assert api.get("/api/v1/segments").json()["total"] == 1
    assert api.get("/api/v1/segments/99").status_code == 404
    assert api.post("/api/v1/segments", json={"name": "VIPs", "filter": flt}).status_code == 409
    bad = api.post("/api/v1/segments", json={"name": "X", "list": "other", "filter": {}})
    assert bad.status_code == 404 and bad.json()["error"] == "Unknown list: other."
    bad = api.post("/api/v1/segments", json={"name": "X", "filter": {"tags": [{"match": "some", "tags": ["a"]}]}})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "filter"

    issue = this_weeks_issue(services, "For VIPs")
    sent = api.post(f"/api/v1/issues/{issue}/send", json={"force": True, "segment_id": segment["id"]})
    assert sent.status_code == 200, sent.text
    assert sent.json()["queued"] == 3

    # The issue keeps its segment (later waves take the same readers): it cannot be deleted.
    kept = api.delete(f"/api/v1/segments/{segment['id']}")
    assert kept.status_code == 409 and f"issue {issue}" in kept.json()["error"]
    spare = api.post("/api/v1/segments", json={"name": "Spare", "filter": flt}).json()
    assert api.delete(f"/api/v1/segments/{spare['id']}").status_code == 204
    assert api.delete(f"/api/v1/segments/{spare['id']}").status_code == 404
    assert [s["name"] for s in api.get("/api/v1/segments").json()["items"]] == ["VIPs"]
