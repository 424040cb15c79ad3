"""An A/B test of an issue sent to a segment: the test share and the winner's send both come from
the segment's readers of the issue's list, and nobody else."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import select

from newsletter.abtests.decide import decide
from newsletter.abtests.plan import set_test
from newsletter.delivery.models import Delivery
from newsletter.issues.compose import compose
from newsletter.issues.list_profile import save_profile
from newsletter.lists.catalog import create_list
from newsletter.services import Services
from tests.factories import add_article, add_subscribers

QUEUED_AT = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


def test_the_test_share_and_the_winners_send_stay_inside_the_segment_of_the_list(services: Services) -> None:
    save_profile(services.sessions, services.settings, tracking_enabled=True)
    add_article(services.sessions, "Rivers")
    vips = add_subscribers(services.sessions, 40, prefix="vip")
    plain = add_subscribers(services.sessions, 20, prefix="plain")
    other = create_list(services.sessions, "Harbour Notes", "harbour")
    elsewhere = add_subscribers(services.sessions, 20, prefix="harbour-vip", list_id=other.id)
    for prefix, count in (("vip", 40), ("harbour-vip", 20)):
        for i in range(count):
            services.audience.tag(f"{prefix}{i}@example.net", ["vip"])
    segment = services.audience.create_segment("VIPs", None, {"tags": [{"match": "any", "tags": ["vip"]}]})
    assert segment.count == 40  # the first list's VIPs only

    issue_id = compose(services.sessions, services.settings).issue_id
    set_test(services.sessions, services.settings, issue_id, ["What the rivers told us"], fraction=0.5, wait_hours=4)
    assert services.publisher.queue(issue_id, now=QUEUED_AT, segment_id=segment.id).queued == 20
    with services.sessions() as session:
        share = dict(session.execute(select(Delivery.subscriber_id, Delivery.variant)
                                     .where(Delivery.issue_id == issue_id)).all())
    assert set(share) <= set(vips) and Counter(share.values()) == {0: 10, 1: 10}

    decided = decide(services, issue_id, QUEUED_AT)
    assert decided.queued == 20
    with services.sessions() as session:
        everyone = list(session.scalars(select(Delivery.subscriber_id).where(Delivery.issue_id == issue_id)))
    assert sorted(everyone) == sorted(vips)  # each VIP of the list once; no plain reader, nobody of the other list
    assert not set(everyone) & set(plain) and not set(everyone) & set(elsewhere)
