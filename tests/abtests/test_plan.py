"""Setting an A/B test on a draft: every bad input is refused with a clear error and changes nothing."""

from __future__ import annotations

import pytest

from newsletter.abtests.figures import load_summary
from newsletter.abtests.plan import AbTestInvalid, AbTestNeedsTracking, clear_test, set_test
from newsletter.issues.compose import compose
from newsletter.issues.list_profile import save_profile
from newsletter.issues.publishing import IssueNotFound, IssueStateError
from newsletter.services import Services
from tests.factories import add_article, add_subscribers


def _draft(services: Services, tracking: bool = True) -> int:
    save_profile(services.sessions, services.settings, tracking_enabled=tracking)
    add_article(services.sessions, "Rivers")
    add_subscribers(services.sessions, 3)
    return compose(services.sessions, services.settings).issue_id


def test_a_test_is_set_replaced_and_taken_off(services: Services) -> None:
    issue_id = _draft(services)
    summary = set_test(services.sessions, services.settings, issue_id, ["  Two\n subjects  "], 0.25, "clicks", 2)
    assert (summary.state, summary.fraction, summary.metric, summary.wait_hours) == ("ready", 0.25, "clicks", 2)
    assert [v.subject for v in summary.variants][1:] == ["Two subjects"]
    assert summary.as_dict()["variants"][1]["letter"] == "B"
    set_test(services.sessions, services.settings, issue_id, ["B", "C", "D"])
    again = load_summary(services.sessions, issue_id)
    assert again is not None and [v.letter for v in again.variants] == ["A", "B", "C", "D"]
    assert (again.fraction, again.metric, again.wait_hours) == (0.2, "opens", 4.0)
    assert clear_test(services.sessions, issue_id) is True
    assert load_summary(services.sessions, issue_id) is None
    assert clear_test(services.sessions, issue_id) is False


@pytest.mark.parametrize(("subjects", "extra", "message"), [
    ([], {}, "2 to 4 subjects"),
    (["B", "C", "D", "E"], {}, "2 to 4 subjects"),
    (["B", " "], {}, "cannot be empty"),
    (["B", "b"], {}, "must differ"),
    (["x" * 301], {}, "at most 300"),
    (["B\x00"], {}, "control characters"),
    (["B"], {"fraction": 0}, "between 0 and 1"),
    (["B"], {"fraction": 1.0}, "between 0 and 1"),
    (["B"], {"fraction": float("nan")}, "between 0 and 1"),
    (["B"], {"metric": "replies"}, "opens or clicks"),
    (["B"], {"wait_hours": 0}, "more than 0"),
    (["B"], {"wait_hours": 10_000}, "at most 720"),
])
def test_bad_input_is_refused_and_changes_nothing(services: Services, subjects, extra, message) -> None:  # type: ignore[no-untyped-def]
    issue_id = _draft(services)
    with pytest.raises(AbTestInvalid, match=message):
        set_test(services.sessions, services.settings, issue_id, subjects, **extra)
    assert load_summary(services.sessions, issue_id) is None


def test_the_issues_own_subject_is_a_not_b(services: Services) -> None:
    issue_id = _draft(services)
    own = services.publisher.rendered(issue_id).subject
    with pytest.raises(AbTestInvalid, match="must differ"):
        set_test(services.sessions, services.settings, issue_id, [own.upper()])


def test_a_test_needs_tracking_and_an_unsent_issue(services: Services) -> None:
    issue_id = _draft(services, tracking=False)
    with pytest.raises(AbTestNeedsTracking, match="tracking is off"):
        set_test(services.sessions, services.settings, issue_id, ["B"])
    save_profile(services.sessions, services.settings, tracking_enabled=True)
    with pytest.raises(IssueNotFound):
        set_test(services.sessions, services.settings, 999, ["B"])
    services.publisher.queue(issue_id)
    with pytest.raises(IssueStateError, match=f"cannot set an A/B test on issue {issue_id}: it is sending"):
        set_test(services.sessions, services.settings, issue_id, ["B"])
    with pytest.raises(IssueStateError, match="it is sending"):
        clear_test(services.sessions, issue_id)


def test_a_send_with_tracking_turned_off_is_refused(services: Services) -> None:
    issue_id = _draft(services)
    set_test(services.sessions, services.settings, issue_id, ["B"])
    with pytest.raises(IssueStateError, match="tracking is off"):
        services.publisher.queue(issue_id, tracking=False)
    assert services.publisher.queue(issue_id).queued == 2  # round(3 * 0.2) = 1, at least one per subject
