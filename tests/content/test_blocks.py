"""Article bodies as typed blocks: built from Markdown, feeds and seed files, cleaned, stored,
read back, written back as Markdown for the edit form, and converted from old rows by 0017."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from newsletter.content import blocks as b
from newsletter.content.articles import ArticleInput, create_article, get_article, update_article
from newsletter.content.html_blocks import html_to_blocks
from newsletter.content.ingest import parse_seed
from newsletter.content.ingest.markdown_blocks import blocks_markdown, markdown_blocks
from newsletter.db.engine import alembic_config, make_engine
from tests.factories import add_article

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ('<a href="javascript:alert(1)" onclick="x()">j</a>', "<a>j</a>"),
        ('<a href="/relative">r</a>', "<a>r</a>"),
        ('<a href="https://e.org/?a=1&b=2" title="t" target="_blank">ok</a>', '<a href="https://e.org/?a=1&amp;b=2">ok</a>'),
        ('<a href="mailto:ed@example.org">mail</a>', '<a href="mailto:ed@example.org">mail</a>'),
        ("<script>alert(1)</script>x<style>p{}</style>", "x"),
        ('<strong lang="en" style="color:red">s</strong><img src=x onerror=alert(1)>', "<strong>s</strong>"),
        ("<em>e</em><code>c</code><br><div>d</div><h1>h</h1>", "<em>e</em><code>c</code><br>dh"),
    ],
)
def test_inline_html_keeps_only_the_allow_list(dirty: str, clean: str) -> None:
    assert b.sanitise_inline(dirty) == clean


def test_blocks_round_trip_through_json_and_are_cleaned_again_when_read() -> None:
    body: list[b.Block] = [
        b.Paragraph('A <a href="https://example.org">link</a>'), b.Heading(3, "Head"),
        b.ListBlock(True, ("one", "<em>two</em>")), b.Quote("q"), b.PullQuote("Pulled"),
        b.Image("https://img.example.org/a.jpg", "alt", "cap", "Getty", 600, 400), b.Divider(),
        b.LinkCard("https://example.org/x", "", "example.org"),
    ]
    stored = json.loads(json.dumps(b.serialise(body)))
    assert b.parse(stored) == body
    tampered = [{"kind": "paragraph", "html": '<a href="javascript:x()">x</a><script>y()</script>'},
                {"kind": "image", "src": "javascript:x()"}, {"kind": "nonsense"}, "not a dict",
                {"kind": "heading", "level": 1, "html": "Top"}]
    assert b.parse(tampered) == [b.Paragraph("<a>x</a>"), b.Heading(2, "Top")]


def test_markdown_makes_every_kind_of_block() -> None:
    body = markdown_blocks(
        "Some **bold**, *em*, `code` and [a link](https://example.org/a).\n\n#### Small head\n\n"
        "- a\n- b\n\n2. two\n3. three\n\n> Said\n\n![Alt text](https://img.example.org/p.png)\n\n***\n\n"
        "https://example.org/story\n\n<p onclick=\"x()\">raw</p>\n"
    )
    assert body == [
        b.Paragraph('Some <strong>bold</strong>, <em>em</em>, <code>code</code> and '
                    '<a href="https://example.org/a">a link</a>.'),
        b.Heading(4, "Small head"),
        b.ListBlock(False, ("a", "b")),
        b.ListBlock(True, ("two", "three")),
        b.Quote("Said"),
        b.Image("https://img.example.org/p.png", "Alt text"),
        b.Divider(),
        b.LinkCard("https://example.org/story", "", "example.org"),
        b.Paragraph("&lt;p onclick=\"x()\"&gt;raw&lt;/p&gt;"),  # raw HTML stays visible text
    ]


def test_feed_html_keeps_links_lists_and_images() -> None:
    body = html_to_blocks(
        '<p>See <a href="notes.html">the notes</a> &amp; <b>more</b>.</p><ul><li>x</li><li>y</li></ul>'
        '<img src="/i.png" alt="An owl" width="300" height="200"><script>bad()</script>',
        "https://example.org/posts/1",
    )
    assert body == [
        b.Paragraph('See <a href="https://example.org/posts/notes.html">the notes</a> &amp; <strong>more</strong>.'),
        b.ListBlock(False, ("x", "y")),
        b.Image("https://example.org/i.png", "An owl", width=300, height=200),
    ]


def test_seed_article_keeps_its_pull_quote_where_it_stood() -> None:
    seed = parse_seed(SEEDS / "000_68e84b66394489ba.txt")
    kinds = [block["kind"] for block in seed.body]
    at = kinds.index("pull_quote")
    assert kinds.count("pull_quote") == 1 and at == 6  # after the 6th paragraph, as on the page
    assert seed.body[at]["text"] == "The past month has been Putin’s costliest yet"
    assert seed.body[at - 1]["html"].startswith("General Oleksandr Syrskyi")
    assert seed.body[at + 1]["html"].startswith("But the Ukrainian defence")
    assert seed.pull_quotes == ["The past month has been Putin’s costliest yet"]  # the old column too


def test_the_edit_form_shows_the_writers_markdown_and_saving_it_changes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    markdown = "Intro with [a link](https://example.org) and **bold**.\n\n## Part two\n\n- one\n- two\n"
    article_id = create_article(sessions, ArticleInput(title="Rich", body_markdown=markdown))
    first = get_article(sessions, article_id)
    assert first.body_markdown == markdown
    update_article(sessions, article_id, ArticleInput(title="Rich", body_markdown=first.body_markdown))
    assert get_article(sessions, article_id).body_markdown == markdown


def test_articles_not_written_in_markdown_are_offered_as_markdown_that_reads_back_the_same() -> None:
    body: list[b.Block] = [
        b.Paragraph('Costs 2*3 <a href="https://example.org/a_(b)">[sic]</a> <strong>now</strong> &amp; '
                    '<em>then</em> <code>x`y</code><br>next line'),
        b.Heading(2, "# not a list"), b.ListBlock(True, ("1. one", "- two")), b.Quote("a<br><br>b"),
        b.Image("https://img.example.org/a.jpg", "An [owl]", "Night"), b.Divider(),
        b.LinkCard("https://example.org/x", "", "example.org"),
    ]
    assert markdown_blocks(blocks_markdown(body)) == body


def test_an_article_stored_before_blocks_is_shown_with_its_words(sessions: sessionmaker[Session]) -> None:
    article_id = add_article(sessions, "Old", paragraphs=["2 * 3 = 6", "Second."], pull_quotes=["Pulled"])
    view = get_article(sessions, article_id)
    assert markdown_blocks(view.body_markdown) == [b.Paragraph("2 * 3 = 6"), b.Quote("Pulled"), b.Paragraph("Second.")]


def test_migration_0017_converts_old_articles_without_loss(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config(engine)
    command.upgrade(config, "0016")
    columns = ("uid, title, author, published_at, standfirst, paragraphs, pull_quotes, image_url, image_credit, "
               "author_bio, url, source, content_hash, created_at, hidden")
    old = {
        "u1": (["One & <two>.", "Two.", "Three.", "Four."], ["A pull quote", "Another"]),
        "u2": (["Only paragraph."], []),
        "u3": ([], ["Only a quote"]),
    }
    with engine.begin() as conn:
        for uid, (paragraphs, quotes) in old.items():
            conn.execute(text(
                f"INSERT INTO article ({columns}) VALUES (:uid, 'T', '', '2026-01-01 00:00:00', '', :p, :q, '', '', "
                "'', '', '', 'h', '2026-01-01 00:00:00', 0)"
            ), {"uid": uid, "p": json.dumps(paragraphs), "q": json.dumps(quotes)})

    command.upgrade(config, "0017")

    with engine.begin() as conn:
        rows = dict(conn.execute(text("SELECT uid, body FROM article")).all())
        kept = conn.execute(text("SELECT paragraphs, pull_quotes, body_markdown FROM article WHERE uid = 'u1'")).one()
    engine.dispose()
    body = {uid: json.loads(value) for uid, value in rows.items()}
    # Every word in order, the quotes where the e-mail showed them (spread between the paragraphs).
    assert body["u1"] == [
        {"kind": "paragraph", "html": "One &amp; &lt;two&gt;."},
        {"kind": "pull_quote", "text": "A pull quote"},
        {"kind": "paragraph", "html": "Two."},
        {"kind": "paragraph", "html": "Three."},
        {"kind": "pull_quote", "text": "Another"},
        {"kind": "paragraph", "html": "Four."},
    ]
    assert body["u2"] == [{"kind": "paragraph", "html": "Only paragraph."}]
    assert body["u3"] == [{"kind": "pull_quote", "text": "Only a quote"}]
    assert b.plain_columns(b.parse(body["u1"])) == (["One & <two>.", "Two.", "Three.", "Four."], ["A pull quote", "Another"])
    assert json.loads(kept[0])[0] == "One & <two>." and kept[2] == ""  # the old columns stay as they were
