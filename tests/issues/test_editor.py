"""Editing an issue on both databases: fields, articles and their order, re-rendering, the
editor's note in both parts, unsaved previews, and refusing to touch what has gone out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from newsletter.content.articles import set_hidden
from newsletter.issues.compose import compose
from newsletter.issues.editor import (
    InvalidIssueEdit,
    IssueNotEditable,
    addable_articles,
    create_issue,
    load_issue,
    move_article,
    preview_issue,
    set_issue_articles,
    update_issue,
)
from newsletter.issues.models import Issue, IssueStatus
from newsletter.issues.publishing import IssueNotFound
from newsletter.services import Services
from tests.clock import mid_week
from tests.factories import add_article, add_subscribers

NOW = mid_week()  # Wednesday noon: minutes or days either side stay in its week, whatever the day


@pytest.fixture
def issue_id(services: Services) -> int:
    for n in range(3):
        add_article(services.sessions, f"Article {n}", NOW - timedelta(minutes=n))
    return compose(services.sessions, services.settings, now=NOW).issue_id


def titles(services: Services, issue_id: int) -> list[str]:
    return [a.title for a in load_issue(services.sessions, issue_id).articles]


def test_editing_fields_re_renders_the_draft(services: Services, issue_id: int) -> None:
    before = services.publisher.rendered(issue_id)
    update_issue(services.sessions, services.settings, issue_id, subject="  A new   subject ",
                 preheader="Read this first", editor_note="Hello readers,\r\nthis week is short.\r\n\r\nSecond thought.")
    issue = load_issue(services.sessions, issue_id)
    assert (issue.subject, issue.preheader) == ("A new subject", "Read this first")
    assert issue.editor_note == "Hello readers,\nthis week is short.\n\nSecond thought."
    after = services.publisher.rendered(issue_id)
    assert after.html != before.html
    assert after.subject == "A new subject"
    assert "FROM THE EDITOR" in after.html and "Second thought." in after.html
    assert "Read this first" in after.html  # the preheader
    text = services.publisher.preview_text(issue_id)
    assert "From the editor:" in text and "Second thought." in text
    assert text.index("Second thought.") < text.index("Article 0")  # at the top


def test_the_note_is_escaped_in_html(services: Services, issue_id: int) -> None:
    update_issue(services.sessions, services.settings, issue_id, editor_note="<script>alert(1)</script> & more")
    html = services.publisher.preview_html(issue_id)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html


def test_none_keeps_a_field_and_an_empty_note_removes_the_note(services: Services, issue_id: int) -> None:
    subject = load_issue(services.sessions, issue_id).subject
    update_issue(services.sessions, services.settings, issue_id, editor_note="Note")
    assert "FROM THE EDITOR" in services.publisher.preview_html(issue_id)
    update_issue(services.sessions, services.settings, issue_id, editor_note="  ")
    assert "FROM THE EDITOR" not in services.publisher.preview_html(issue_id)
    assert load_issue(services.sessions, issue_id).subject == subject


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"subject": " "}, "subject"), ({"subject": "s" * 301}, "subject"), ({"preheader": "p" * 301}, "preheader"),
     ({"editor_note": "n" * 5001}, "editor_note")],
)
def test_bad_values_change_nothing(services: Services, issue_id: int, changes: dict[str, str], field: str) -> None:
    before = load_issue(services.sessions, issue_id)
    with pytest.raises(InvalidIssueEdit) as caught:
        update_issue(services.sessions, services.settings, issue_id, **changes)
    assert field in caught.value.errors
    assert load_issue(services.sessions, issue_id) == before


def test_articles_are_set_in_order_and_moved(services: Services, issue_id: int) -> None:
    ids = [a.id for a in load_issue(services.sessions, issue_id).articles]
    set_issue_articles(services.sessions, services.settings, issue_id, [ids[2], ids[0]])
    assert titles(services, issue_id) == ["Article 2", "Article 0"]
    body = services.publisher.preview_text(issue_id).split("In this issue:")[1]  # the subject names Article 0
    assert "Article 1" not in body and body.index("Article 2") < body.index("Article 0")
    move_article(services.sessions, services.settings, issue_id, ids[0], -1)
    assert titles(services, issue_id) == ["Article 0", "Article 2"]
    move_article(services.sessions, services.settings, issue_id, ids[0], -1)  # already first: stays
    assert titles(services, issue_id) == ["Article 0", "Article 2"]
    with pytest.raises(InvalidIssueEdit, match="not in this issue"):
        move_article(services.sessions, services.settings, issue_id, ids[1], 1)


def test_bad_article_lists_are_refused(services: Services, issue_id: int) -> None:
    ids = [a.id for a in load_issue(services.sessions, issue_id).articles]
    for bad, words in (([ids[0], ids[0]], "twice"), ([ids[0], 9999], "no article 9999")):
        with pytest.raises(InvalidIssueEdit, match=words):
            set_issue_articles(services.sessions, services.settings, issue_id, bad)
    assert titles(services, issue_id) == ["Article 0", "Article 1", "Article 2"]


def test_hidden_articles_are_not_offered_nor_added_but_may_stay(services: Services, issue_id: int) -> None:
    ids = [a.id for a in load_issue(services.sessions, issue_id).articles]
    spare = add_article(services.sessions, "Spare one", NOW - timedelta(days=1), author="Jo")
    hidden = add_article(services.sessions, "Hidden one", NOW - timedelta(days=2))
    set_hidden(services.sessions, hidden, True)
    assert [a.title for a in addable_articles(services.sessions, issue_id)] == ["Spare one"]
    assert [a.title for a in addable_articles(services.sessions, issue_id, "jo")] == ["Spare one"]
    assert addable_articles(services.sessions, issue_id, "nothing like it") == []
    with pytest.raises(InvalidIssueEdit, match="hidden articles cannot be added: Hidden one"):
        set_issue_articles(services.sessions, services.settings, issue_id, [*ids, hidden])
    set_hidden(services.sessions, ids[0], True)  # hiding one already in the draft keeps it there
    set_issue_articles(services.sessions, services.settings, issue_id, [ids[1], ids[0], spare])
    assert titles(services, issue_id) == ["Article 1", "Article 0", "Spare one"]


def test_articles_in_an_issue_that_went_out_are_not_offered(services: Services, issue_id: int) -> None:
    ids = [a.id for a in load_issue(services.sessions, issue_id).articles]
    set_issue_articles(services.sessions, services.settings, issue_id, [ids[0]])
    add_subscribers(services.sessions, 1)
    services.publisher.queue(issue_id, force=True)
    other = create_issue(services.sessions, services.settings, "Another", [])
    assert [a.title for a in addable_articles(services.sessions, other)] == ["Article 1", "Article 2"]


def test_sent_and_sending_issues_are_not_editable(services: Services, issue_id: int) -> None:
    add_subscribers(services.sessions, 1)
    services.publisher.queue(issue_id, force=True)
    html = services.publisher.rendered(issue_id).html
    with pytest.raises(IssueNotEditable, match="is sending"):
        update_issue(services.sessions, services.settings, issue_id, subject="Too late")
    with pytest.raises(IssueNotEditable):
        set_issue_articles(services.sessions, services.settings, issue_id, [])
    with services.sessions.begin() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        issue.status = IssueStatus.SENT
    with pytest.raises(IssueNotEditable, match="is sent"):
        update_issue(services.sessions, services.settings, issue_id, editor_note="x")
    assert services.publisher.rendered(issue_id).html == html


def test_scheduled_issues_are_editable(services: Services, issue_id: int) -> None:
    with services.sessions.begin() as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        issue.status, issue.scheduled_at = IssueStatus.SCHEDULED, NOW + timedelta(days=1)
    update_issue(services.sessions, services.settings, issue_id, subject="Still time")
    assert load_issue(services.sessions, issue_id).subject == "Still time"


def test_unknown_issue(services: Services) -> None:
    with pytest.raises(IssueNotFound):
        update_issue(services.sessions, services.settings, 999, subject="x")
    with pytest.raises(IssueNotFound):
        preview_issue(services.sessions, services.settings, 999)


def test_create_issue_from_chosen_articles(services: Services) -> None:
    a = add_article(services.sessions, "Alpha", NOW)
    b = add_article(services.sessions, "Beta", NOW)
    new = create_issue(services.sessions, services.settings, "Special edition", [b, a])
    issue = load_issue(services.sessions, new)
    assert (issue.number, issue.week, issue.status) == (1, "", IssueStatus.DRAFT)
    assert [x.title for x in issue.articles] == ["Beta", "Alpha"]
    assert "Special edition" in services.publisher.preview_html(new)
    assert create_issue(services.sessions, services.settings, "Next", []) != new
    with pytest.raises(InvalidIssueEdit):
        create_issue(services.sessions, services.settings, "", [a])


def test_preview_renders_unsaved_values_and_saves_nothing(services: Services, issue_id: int) -> None:
    saved = load_issue(services.sessions, issue_id)
    stored = services.publisher.rendered(issue_id).html
    rendered = preview_issue(services.sessions, services.settings, issue_id, subject="Unsaved subject",
                             editor_note="Unsaved note")
    assert rendered.subject == "Unsaved subject" and "Unsaved note" in rendered.html and "Unsaved note" in rendered.text
    assert load_issue(services.sessions, issue_id) == saved
    assert services.publisher.rendered(issue_id).html == stored
    with pytest.raises(InvalidIssueEdit):
        preview_issue(services.sessions, services.settings, issue_id, subject="")
