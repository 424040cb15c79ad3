"""Rich articles in the issue e-mail: what a writer marks up in Markdown or a feed carries in its
HTML reaches the reader's HTML part as markup and the text part as readable text."""

from __future__ import annotations

import email
import email.policy
import html as htmllib
import re
from datetime import datetime
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.content import blocks
from newsletter.content.ingest.markdown_blocks import markdown_blocks
from newsletter.content.sources.feeds import parse_feed
from newsletter.mail.backends.memory import MemoryBackend
from newsletter.render.issue import render_issue
from newsletter.services import Services
from tests.render.test_render import make_article, make_issue, make_settings

RICH_MARKDOWN = """\
Read [the report](https://example.org/report?a=1&b=2) with **bold claims** and *quiet doubts*; run `make test`.

## What changed

### In detail

- first point
- second point

1. step one
2. step two

> Quoted from the minister.

![A flooded street in Leeds](https://img.example.org/flood.jpg "High water")

---

https://example.org/live-updates

A [bad link](javascript:alert(1)) and <script>alert(2)</script> and <b onmouseover="x()">raw</b>.
"""

RICH_FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Rich feed</title><link>https://example.org/</link><description>d</description>
<item><title>A rich entry</title><link>https://example.org/posts/1</link><guid>r-1</guid>
<content:encoded><![CDATA[
<p onclick="steal()">Read <a href="https://example.org/report?a=1&amp;b=2" onclick="x()">the report</a> with
<b>bold claims</b> and <i>quiet doubts</i>; run <code>make test</code>.</p>
<h2>What changed</h2><h3>In detail</h3>
<ul><li>first point</li><li>second point</li></ul>
<ol><li>step one</li><li>step two</li></ol>
<blockquote><p>Quoted from the minister.</p></blockquote>
<figure><img src="/images/flood.jpg" alt="A flooded street in Leeds" width="1200" height="800" onerror="x()">
<figcaption>High water</figcaption></figure>
<hr>
<p><a href="https://example.org/live-updates">https://example.org/live-updates</a></p>
<p>A <a href="javascript:alert(1)">bad link</a> and <script>alert(2)</script><style>p{}</style> done.</p>
]]></content:encoded></item></channel></rss>"""


@pytest.fixture
def render_settings(tmp_path: Path) -> Settings:  # no database: rendering only
    return make_settings(tmp_path)


def rendered_with(settings: Settings, body: list[blocks.Block]) -> tuple[str, str]:
    article = make_article(body=blocks.serialise(body), paragraphs=[], pull_quotes=[], author_bio="")
    issue = render_issue(make_issue(article), settings)
    return issue.html, issue.text


def assert_rich(html: str, text: str, image_src: str) -> None:
    assert re.search(r'<a href="https://example.org/report\?a=1&amp;b=2"[^>]*>the report</a>', html)
    assert "<strong>bold claims</strong>" in html and "<em>quiet doubts</em>" in html
    assert re.search(r"<code[^>]*>make test</code>", html)
    assert re.search(r"<h2[^>]*>What changed</h2>", html) and re.search(r"<h3[^>]*>In detail</h3>", html)
    assert re.search(r"<ul[^>]*><li[^>]*>first point</li><li[^>]*>second point</li></ul>", html)
    assert re.search(r"<ol[^>]*><li[^>]*>step one</li><li[^>]*>step two</li></ol>", html)
    assert re.search(r"<blockquote[^>]*>Quoted from the minister.</blockquote>", html)
    [img] = re.findall(r'<img src="%s"[^>]*>' % re.escape(image_src), html)
    assert 'alt="A flooded street in Leeds"' in img and "max-width:100%" in img
    assert "High water" in html
    assert re.search(r"<hr[^>]*>", html)
    assert re.search(r'<a href="https://example.org/live-updates"[^>]*>https://example.org/live-updates</a>', html)
    # No script, handler or scripted link survives as markup (Markdown's raw HTML shows as text).
    assert not re.search(r"<[^>]*\son\w+=", html) and not re.search(r"<(script|iframe|b)\b", html)
    assert 'href="javascript' not in html and "javascript:alert" not in re.sub(r"\[bad link\]\([^)]*\)\)", "", html)
    # The text part: every link's address, every image's alt text, the structure in plain text.
    assert "the report (https://example.org/report?a=1&b=2)" in text
    assert "[Image: A flooded street in Leeds] (High water)" in text
    assert "What changed\n------------" in text
    assert "- first point\n- second point" in text and "1. step one\n2. step two" in text
    assert "> Quoted from the minister." in text
    assert "https://example.org/live-updates" in text
    assert "(javascript:" not in text.replace("[bad link](javascript:alert(1))", "")


def test_a_markdown_article_reaches_the_email_with_its_markup(render_settings: Settings) -> None:
    html, text = rendered_with(render_settings, markdown_blocks(RICH_MARKDOWN))
    assert_rich(html, text, "https://img.example.org/flood.jpg")
    # Raw HTML in Markdown is shown as the text it is, never as markup.
    assert "&lt;b onmouseover=&#34;x()&#34;&gt;raw&lt;/b&gt;" in html or "&lt;b onmouseover" in html


def test_a_feed_entry_reaches_the_email_with_its_markup(render_settings: Settings) -> None:
    [entry] = parse_feed(RICH_FEED, "https://example.org/feed.xml").entries
    html, text = rendered_with(render_settings, blocks.parse(entry.body))
    # The relative image is read against the entry's page; its size is kept within the column.
    assert_rich(html, text, "https://example.org/images/flood.jpg")
    [img] = re.findall(r"<img src=\"https://example.org/images/flood.jpg\"[^>]*>", html)
    assert 'width="552"' in img and 'height="368"' in img
    assert "alert(2)" not in text


def test_stored_html_is_cleaned_again_when_rendered(render_settings: Settings) -> None:
    """A row edited by hand (or by older code) cannot put markup into the e-mail."""
    tampered = [
        {"kind": "paragraph", "html": '<a href="javascript:alert(1)" onclick="x()">hi</a><script>alert(2)</script>'
                                      '<img src=x onerror=alert(3)><iframe src="https://evil.example"></iframe>'},
        {"kind": "image", "src": "javascript:alert(4)", "alt": "x"},
        {"kind": "link_card", "url": "data:text/html,<script>alert(5)</script>"},
        {"kind": "heading", "level": 9, "html": "<h1>Big</h1>"},
    ]
    article = make_article(body=tampered, paragraphs=[], pull_quotes=[])
    rendered = render_issue(make_issue(article), render_settings)
    for bad in ("javascript:", "alert(", "onclick", "<iframe", "onerror", "data:text"):
        assert bad not in rendered.html
    assert re.search(r"<h4[^>]*>Big</h4>", rendered.html)


def test_old_articles_keep_their_pull_quotes_between_paragraphs(render_settings: Settings) -> None:
    # A row with only the old columns (older code, tests' factories) renders as it always did.
    article = make_article(paragraphs=["One.", "Two.", "Three.", "Four."], pull_quotes=["Pulled out"])
    rendered = render_issue(make_issue(article), render_settings)
    body = rendered.html[rendered.html.index("One."):]
    assert body.index("Two.") < body.index("“Pulled out”") < body.index("Three.")


def test_an_article_sent_by_the_worker_has_its_link_in_both_parts(services: Services, mid_week_now: datetime) -> None:
    """End to end: written in Markdown in the editor, composed, queued and sent by a worker to the
    memory backend; the reader's message has the link in its HTML and its text part."""
    from newsletter.content.articles import ArticleInput, create_article
    from newsletter.delivery.dispatch import Worker
    from newsletter.issues.compose import compose

    services.subscriptions.add("ana@example.net")
    create_article(services.sessions, ArticleInput(
        title="Floods", body_markdown="The [river gauge](https://example.org/gauge) rose **fast**.\n\n"
                                      "![The bridge under water](https://img.example.org/bridge.jpg)",
        published_at=mid_week_now))
    issue_id = compose(services.sessions, services.settings, now=mid_week_now).issue_id
    services.publisher.queue(issue_id)
    Worker(services.store, services.backend, services.settings, services.links).run(drain=True)
    assert isinstance(services.backend, MemoryBackend)
    [sent] = services.backend.sent
    message = email.message_from_bytes(sent.data, policy=email.policy.default)
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    assert html_part is not None and text_part is not None
    html, text = html_part.get_content(), text_part.get_content()
    # The HTML link may be rewritten for click tracking; its address is still there.
    hrefs = [htmllib.unescape(h) for h in re.findall(r'<a href="([^"]+)"[^>]*>river gauge</a>', html)]
    assert hrefs and ("https://example.org/gauge" in hrefs[0] or "gauge" in hrefs[0])
    assert "<strong>fast</strong>" in html and 'alt="The bridge under water"' in html
    assert "river gauge (https://example.org/gauge)" in text
    assert "[Image: The bridge under water]" in text


def test_a_hostile_feed_nesting_tags_deeply_still_renders(render_settings: Settings) -> None:
    """500 nested <b>, lists and quotes would pass the renderer's nesting limit and stop the issue."""
    deep = ("<b>" * 500 + "bold" + "</b>" * 500 + "<ul><li>" * 300 + "item" + "</li></ul>" * 300
            + "<blockquote>" * 300 + "said" + "</blockquote>" * 300)
    feed = RICH_FEED.replace(b"<p onclick", deep.encode() + b"<p onclick")
    [entry] = parse_feed(feed, "https://example.org/feed.xml").entries
    html, text = rendered_with(render_settings, blocks.parse(entry.body))
    assert "bold" in html and "item" in html and "said" in html and "the report" in html


def test_an_editors_own_template_shows_the_same_rich_article(render_settings: Settings) -> None:
    """The editor's template renders in a child process from the context as JSON: the blocks'
    HTML must arrive as markup, not as escaped text."""
    source = (render_settings.templates_dir / "email" / "issue.mjml.j2").read_text(encoding="utf-8")
    article = make_article(body=blocks.serialise(markdown_blocks(RICH_MARKDOWN)), paragraphs=[], pull_quotes=[])
    caged = render_issue(make_issue(article), render_settings, template_source=source)
    assert caged == render_issue(make_issue(article), render_settings)
    assert "<strong>bold claims</strong>" in caged.html
