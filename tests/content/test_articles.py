"""The editor's articles on both databases: write in Markdown, validate, search, page, edit, hide."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.content.articles import (
    ArticleInput,
    ArticleNotFound,
    InvalidArticle,
    count_articles,
    create_article,
    get_article,
    list_articles,
    set_hidden,
    update_article,
)
from newsletter.issues.compose import Week, compose
from newsletter.config import Settings
from newsletter.content.ingest import ingest_path
from newsletter.issues.models import Issue
from tests.factories import add_article

BODY = "First *paragraph* with a [link](https://example.org).\n\n> A pull quote\n\n## A heading\n\nSecond one."


def test_markdown_body_becomes_paragraphs_as_the_ingest_makes_them(sessions: sessionmaker[Session], tmp_path) -> None:
    article_id = create_article(sessions, ArticleInput(title="Written here", body_markdown=BODY, author="Ed",
                                                       standfirst="In **short**", url="https://example.org/a"))
    made = get_article(sessions, article_id)
    assert made.paragraphs == ["First paragraph with a link.", "A pull quote", "A heading", "Second one."]
    assert made.standfirst == "In short"
    assert not made.hidden and made.url == "https://example.org/a" and made.author == "Ed"

    # The same text as a Markdown file gives the same paragraphs.
    (tmp_path / "a.md").write_text(f"---\ntitle: From a file\n---\n{BODY}\n", encoding="utf-8")
    ingest_path(sessions, tmp_path / "a.md")
    [from_file] = list_articles(sessions, "From a file")
    assert from_file.paragraphs == made.paragraphs


def test_the_body_round_trips_through_the_edit_form(sessions: sessionmaker[Session]) -> None:
    # Escaped Markdown: the reader sees the stars, underscores and brackets as typed.
    body = r"Costs 2\*3\*4 pounds\_and\_pence \\o/ \[sic\]" + "\n\n" + r"\# not a heading" + "\n\n> Quoted"
    article_id = create_article(sessions, ArticleInput(title="Tricky", body_markdown=body))
    first = get_article(sessions, article_id)
    assert first.paragraphs == ["Costs 2*3*4 pounds_and_pence \\o/ [sic]", "# not a heading", "Quoted"]
    assert first.body_markdown == body  # the writer's own Markdown, as typed
    # Saving the form unchanged keeps the text exactly.
    update_article(sessions, article_id, ArticleInput(title="Tricky", body_markdown=first.body_markdown))
    again = get_article(sessions, article_id)
    assert again.paragraphs == first.paragraphs
    assert again.body_markdown == first.body_markdown


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (ArticleInput(title="  ", body_markdown="Body."), "title", "enter a title"),
        (ArticleInput(title="T" * 501, body_markdown="Body."), "title", "at most 500"),
        (ArticleInput(title="T", body_markdown=""), "body_markdown", "at least one paragraph"),
        (ArticleInput(title="T", body_markdown="---"), "body_markdown", "no body paragraphs"),
        (ArticleInput(title="T", body_markdown="B", author="A" * 201), "author", "at most 200"),
        (ArticleInput(title="T", body_markdown="B", url="javascript:alert(1)"), "url", "http:// or https://"),
        (ArticleInput(title="T", body_markdown="B", url="ftp://example.org/x"), "url", "http:// or https://"),
        (ArticleInput(title="T", body_markdown="B", url="https://"), "url", "http:// or https://"),
        (ArticleInput(title="T", body_markdown="B", url="https://e.org/" + "x" * 1000), "url", "at most 1,000"),
    ],
)
def test_bad_input_is_refused_field_by_field(
    sessions: sessionmaker[Session], data: ArticleInput, field: str, words: str
) -> None:
    with pytest.raises(InvalidArticle) as caught:
        create_article(sessions, data)
    assert words in caught.value.errors[field]
    assert count_articles(sessions) == 0


def test_every_problem_is_reported_at_once(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(InvalidArticle) as caught:
        create_article(sessions, ArticleInput(title="", body_markdown="", url="nope"))
    assert set(caught.value.errors) == {"title", "body_markdown", "url"}


def test_the_same_title_and_author_twice_is_refused(sessions: sessionmaker[Session]) -> None:
    create_article(sessions, ArticleInput(title="Once", body_markdown="Body.", author="Ed"))
    with pytest.raises(InvalidArticle, match="already exists"):
        create_article(sessions, ArticleInput(title="once ", body_markdown="Other.", author="ed"))


def test_search_pages_and_hidden_filter(sessions: sessionmaker[Session]) -> None:
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for n in range(7):
        add_article(sessions, f"Story {n}", start + timedelta(hours=n), author="Jo Bloggs" if n % 2 else "Sam")
    add_article(sessions, "100% _wild_ cards", start - timedelta(minutes=1), author="X")
    assert [a.title for a in list_articles(sessions, limit=3)] == ["Story 6", "Story 5", "Story 4"]
    assert [a.title for a in list_articles(sessions, limit=3, offset=6)] == ["Story 0", "100% _wild_ cards"]
    assert count_articles(sessions, "bloggs") == 3
    assert {a.title for a in list_articles(sessions, "JO  BLOGGS")} == {"Story 1", "Story 3", "Story 5"}
    assert [a.title for a in list_articles(sessions, "%")] == ["100% _wild_ cards"]
    assert count_articles(sessions, "_") == 1

    story = list_articles(sessions, "Story 5")[0]
    set_hidden(sessions, story.id, True)
    assert get_article(sessions, story.id).hidden
    assert count_articles(sessions, "bloggs", include_hidden=False) == 2
    assert count_articles(sessions, "bloggs") == 3
    set_hidden(sessions, story.id, False)
    assert count_articles(sessions, "bloggs", include_hidden=False) == 3


def test_edit_changes_what_the_reader_sees(sessions: sessionmaker[Session]) -> None:
    article_id = add_article(sessions, "Before")
    update_article(sessions, article_id, ArticleInput(title="After", body_markdown="New body.", author="New",
                                                      url="http://example.org/after"))
    after = get_article(sessions, article_id)
    assert (after.title, after.author, after.paragraphs, after.url) == ("After", "New", ["New body."],
                                                                        "http://example.org/after")
    with pytest.raises(InvalidArticle):
        update_article(sessions, article_id, ArticleInput(title="", body_markdown="x"))
    assert get_article(sessions, article_id).title == "After"


def test_unknown_articles_are_not_found(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ArticleNotFound):
        get_article(sessions, 999)
    with pytest.raises(ArticleNotFound):
        set_hidden(sessions, 999, True)
    with pytest.raises(ArticleNotFound):
        update_article(sessions, 999, ArticleInput(title="T", body_markdown="B"))


def test_hidden_articles_are_never_composed(sessions: sessionmaker[Session], settings: Settings) -> None:
    week = Week(2026, 48)
    start, _ = week.bounds(ZoneInfo(settings.time_zone))
    shown = add_article(sessions, "Shown", start + timedelta(hours=1))
    hidden = add_article(sessions, "Hidden", start + timedelta(hours=2))
    set_hidden(sessions, hidden, True)
    result = compose(sessions, settings, week)
    assert result.article_count == 1
    with sessions() as session:
        issue = session.get(Issue, result.issue_id)
        assert issue is not None and [a.id for a in issue.articles] == [shown]


