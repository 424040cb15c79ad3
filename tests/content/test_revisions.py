"""The writing desk's draft history on both databases: every save keeps a revision (unchanged saves
add none), a restore is a new revision, at most MAX_REVISIONS per article, and the preview renders
an unsaved draft as the email shows it without storing anything."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.content import revisions
from newsletter.content.articles import ArticleInput, ArticleNotFound, InvalidArticle, get_article, list_articles
from newsletter.content.models import ArticleRevision
from newsletter.content.revisions import RevisionNotFound

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)  # a fixed moment: no test reads the clock
BODY = "A first paragraph with a [link](https://example.org/a).\n\n> A pull quote"


def written(sessions: sessionmaker[Session], title: str = "Desk", body: str = BODY) -> int:
    return revisions.create(sessions, ArticleInput(title=title, body_markdown=body, author="Ed"), "ed@example.org",
                            now=T0)


def count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(ArticleRevision)) or 0


def test_each_save_keeps_a_revision_as_typed_and_unchanged_saves_add_none(sessions: sessionmaker[Session]) -> None:
    article_id = written(sessions)
    first = revisions.save(sessions, article_id, ArticleInput(title="Desk", body_markdown=BODY, author="Ed"),
                           "ed@example.org", now=T0 + timedelta(seconds=5))
    assert not first.added  # autosave over an idle page keeps the history readable
    changed = ArticleInput(title="Desk, again", body_markdown=BODY + "\n\nMore.", author="Ed")
    second = revisions.save(sessions, article_id, changed, "jo@example.org", now=T0 + timedelta(minutes=1))
    assert second.added
    listed = revisions.list_revisions(sessions, article_id)
    assert [(r.title, r.saved_by, r.saved_at) for r in listed] == [
        ("Desk, again", "jo@example.org", T0 + timedelta(minutes=1)),
        ("Desk", "ed@example.org", T0),
    ]
    assert listed[1].body_markdown == BODY  # the writer's Markdown, link and all
    assert get_article(sessions, article_id).title == "Desk, again"


def test_restore_puts_the_old_text_back_as_a_new_revision(sessions: sessionmaker[Session]) -> None:
    article_id = written(sessions)
    revisions.save(sessions, article_id, ArticleInput(title="Rewritten", body_markdown="All new.", author="Ed"),
                   "ed@example.org", now=T0 + timedelta(minutes=1))
    oldest = revisions.list_revisions(sessions, article_id)[-1]
    revisions.restore(sessions, article_id, oldest.id, "jo@example.org", now=T0 + timedelta(minutes=2))
    article = get_article(sessions, article_id)
    assert article.title == "Desk" and article.author == "Ed"
    assert article.paragraphs[0].startswith("A first paragraph with a")
    listed = revisions.list_revisions(sessions, article_id)
    assert [r.title for r in listed] == ["Desk", "Rewritten", "Desk"]
    assert listed[0].saved_by == "jo@example.org"
    assert article.body_markdown == BODY  # the writer's own Markdown, link and all


def test_a_revision_is_only_found_under_its_own_article(sessions: sessionmaker[Session]) -> None:
    mine, other = written(sessions, "Mine"), written(sessions, "Other")
    [theirs] = revisions.list_revisions(sessions, other)
    with pytest.raises(RevisionNotFound):
        revisions.get_revision(sessions, mine, theirs.id)
    with pytest.raises(RevisionNotFound):
        revisions.restore(sessions, mine, theirs.id, "ed@example.org", now=T0)
    assert get_article(sessions, mine).title == "Mine"


def test_an_invalid_save_changes_nothing_and_keeps_no_revision(sessions: sessionmaker[Session]) -> None:
    article_id = written(sessions)
    with pytest.raises(InvalidArticle):
        revisions.save(sessions, article_id, ArticleInput(title=" ", body_markdown="x"), "ed@example.org", now=T0)
    with pytest.raises(ArticleNotFound):
        revisions.save(sessions, 9999, ArticleInput(title="t", body_markdown="x"), "ed@example.org", now=T0)
    assert count(sessions) == 1 and get_article(sessions, article_id).title == "Desk"


def test_only_the_newest_revisions_are_kept(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revisions, "MAX_REVISIONS", 3)
    article_id = written(sessions)
    for n in range(1, 5):
        revisions.save(sessions, article_id, ArticleInput(title=f"Take {n}", body_markdown=BODY), "ed@example.org",
                       now=T0 + timedelta(minutes=n))
    assert [r.title for r in revisions.list_revisions(sessions, article_id)] == ["Take 4", "Take 3", "Take 2"]
    other = written(sessions, "Another")  # another article's history is its own
    assert [r.title for r in revisions.list_revisions(sessions, other)] == ["Another"]
    assert count(sessions) == 4


def test_the_preview_renders_a_draft_as_the_email_does_and_stores_nothing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    html = revisions.preview_html(sessions, settings, ArticleInput(title="Never saved", body_markdown=BODY))
    assert "Never saved" in html and "A pull quote" in html and "<html" in html.lower()
    assert 'href="https://example.org/a"' in html  # the link as the email carries it
    assert list_articles(sessions) == [] and count(sessions) == 0
    with pytest.raises(InvalidArticle) as caught:
        revisions.preview_html(sessions, settings, ArticleInput(title="No body", body_markdown=" "))
    assert "body_markdown" in caught.value.errors


def test_autosaves_of_one_writing_session_make_one_revision(sessions: sessionmaker[Session]) -> None:
    article_id = written(sessions)  # an explicit save: never overwritten by autosave

    def autosave(title: str, seconds: int, who: str = "ed@example.org") -> revisions.Saved:
        return revisions.save(sessions, article_id, ArticleInput(title=title, body_markdown=BODY), who,
                              now=T0 + timedelta(seconds=seconds), autosave=True)

    assert autosave("Typing", 60).added
    assert not autosave("Typing more", 90).added  # within two minutes of the last: the same revision
    assert not autosave("Typing even more", 200).added  # measured from the last autosave, not the first
    assert autosave("After a break", 200 + 121).added
    assert autosave("Someone else", 330, who="jo@example.org").added  # never folds into another's
    assert [r.title for r in revisions.list_revisions(sessions, article_id)] == [
        "Someone else", "After a break", "Typing even more", "Desk"]
