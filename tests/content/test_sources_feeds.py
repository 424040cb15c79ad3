"""Polling feeds from a real local HTTP server, and folders of article files, into Article rows.

The feed server is on loopback, so these tests run with sources_allow_private (a trusted setup);
tests/content/test_sources_safety.py checks the address checks themselves.
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from newsletter.config import Settings
from newsletter.content.models import Article, Source
from newsletter.services import Services
from newsletter.content.sources import (
    AddressPolicy,
    PollResult,
    SourceError,
    SourceInfo,
    add_source,
    html_to_paragraphs,
    list_sources,
    poll_due,
    poll_source,
    remove_source,
)

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
TIMEOUT = 1.0
RSS = "application/rss+xml"
ATOM = "application/atom+xml"
TRUSTED = AddressPolicy(allow_private=True)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """conftest's settings, with feeds allowed on private addresses (the test server's 127.0.0.1)."""
    return settings.model_copy(update={"sources_allow_private": True})


def add(services: Services, location: str, interval_minutes: int = 60) -> SourceInfo:
    """As the CLI adds a source: folders allowed, private addresses as the settings say."""
    return add_source(services.sessions, location, interval_minutes=interval_minutes, allow_local=True,
                      allow_private=services.settings.sources_allow_private)


def rss(items: str, title: str = "The Test Feed") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>{title}</title><link>https://example.org/</link><description>d</description>
{items}
</channel></rss>"""


def rss_item(guid: str, title: str, *, date: str = "Mon, 23 Nov 2026 09:30:00 +0000", link: str = "",
             body: str = "<p>First paragraph.</p><p>Second &amp; last.</p>", description: str = "") -> str:
    link = link or f"https://example.org/{guid}"
    title_tag = f"<title>{title}</title>" if title else ""
    return f"""<item>{title_tag}<link>{link}</link><guid isPermaLink="false">{guid}</guid>
<dc:creator>Jane Writer</dc:creator><pubDate>{date}</pubDate>
<description><![CDATA[{description}]]></description>
<content:encoded><![CDATA[{body}]]></content:encoded></item>"""


ATOM_FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom Summaries</title><id>urn:feed</id><updated>2026-11-24T10:00:00Z</updated>
  <entry>
    <title>An Atom entry</title><id>urn:entry:1</id>
    <link rel="alternate" href="https://example.org/atom/1"/>
    <author><name>Sam Atom</name></author>
    <updated>2026-11-24T10:00:00Z</updated>
    <summary type="html">&lt;p&gt;Only a &lt;em&gt;summary&lt;/em&gt; here.&lt;/p&gt;</summary>
  </entry>
</feed>"""


def serve(httpserver: HTTPServer, body: str, content_type: str = RSS, path: str = "/feed") -> str:
    httpserver.expect_request(path).respond_with_data(body, content_type=content_type)
    return httpserver.url_for(path)


def articles(services: Services) -> list[Article]:
    with services.sessions() as session:
        return list(session.scalars(select(Article).order_by(Article.id)))


def source_row(services: Services, source_id: int) -> Source:
    with services.sessions() as session:
        row = session.get(Source, source_id)
        assert row is not None
        return row


def poll(services: Services, source_id: int, now: datetime = NOW) -> PollResult:
    return poll_source(services.sessions, source_id, now=now, timeout=TIMEOUT, policy=TRUSTED)


def test_rss_with_full_content(services: Services, httpserver: HTTPServer) -> None:
    items = rss_item("a-1", "Full text", description="A short teaser.") + rss_item("a-2", "Another one")
    source = add(services, serve(httpserver, rss(items)))
    result = poll(services, source.id)
    assert (result.added, result.updated, result.unchanged, result.error) == (2, 0, 0, None)
    first = articles(services)[0]
    assert first.title == "Full text" and first.author == "Jane Writer"
    assert first.paragraphs == ["First paragraph.", "Second & last."]
    assert first.standfirst == "A short teaser."
    assert first.url == "https://example.org/a-1" and first.source_id == source.id
    assert first.published_at == datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
    row = source_row(services, source.id)
    assert row.title == "The Test Feed" and row.last_ok_at == NOW and row.last_polled_at == NOW
    assert row.last_error is None
    assert list_sources(services.sessions)[0].article_count == 2


def test_atom_summary_only_gets_a_read_more_link(services: Services, httpserver: HTTPServer) -> None:
    source = add(services, serve(httpserver, ATOM_FEED, ATOM))
    assert poll(services, source.id).added == 1
    (article,) = articles(services)
    assert article.title == "An Atom entry" and article.author == "Sam Atom"
    assert article.paragraphs == ["Only a summary here.", "Read more: https://example.org/atom/1"]
    assert article.published_at == datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("status", "expected"), [(404, "HTTP 404"), (503, "HTTP 503")]
)
def test_http_errors_are_recorded_not_raised(
    services: Services, httpserver: HTTPServer, status: int, expected: str
) -> None:
    httpserver.expect_request("/feed").respond_with_data("nope", status=status)
    source = add(services, httpserver.url_for("/feed"))
    (result,) = poll_due(services, NOW, timeout=TIMEOUT)
    assert result.error is not None and expected in result.error
    row = source_row(services, source.id)
    assert row.last_error is not None and expected in row.last_error
    assert row.last_polled_at == NOW and row.last_ok_at is None
    assert articles(services) == []


def test_a_timeout_is_recorded_and_the_next_poll_retries(services: Services, httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(TIMEOUT + 0.5)
        return Response(rss(rss_item("t-1", "Late")), content_type=RSS)

    httpserver.expect_oneshot_request("/feed").respond_with_handler(slow)
    source = add(services, httpserver.url_for("/feed"), interval_minutes=30)
    (result,) = poll_due(services, NOW, timeout=TIMEOUT)
    # The web sees one neutral line for "refused", "closed" and "timed out"; the CLI gets the detail.
    assert result.error is not None and "did not answer in time" in result.error
    assert result.detail is not None and "timed out" in result.detail
    assert poll_due(services, NOW + timedelta(minutes=29), timeout=TIMEOUT) == []  # not due yet

    time.sleep(0.6)  # let the slow handler finish before the server answers again
    httpserver.expect_request("/feed").respond_with_data(rss(rss_item("t-1", "Late")), content_type=RSS)
    later = NOW + timedelta(minutes=30)
    (retry,) = poll_due(services, later, timeout=TIMEOUT)
    assert (retry.added, retry.error) == (1, None)
    row = source_row(services, source.id)
    assert row.last_error is None and row.last_ok_at == later


def test_connection_refused_is_recorded(services: Services) -> None:
    source = add(services, "http://127.0.0.1:9/feed")
    result = poll(services, source.id)
    assert result.error is not None and "cannot fetch" in result.error


def test_malformed_xml_is_recorded(services: Services, httpserver: HTTPServer) -> None:
    source = add(services, serve(httpserver, "<rss><channel><item><title>broken", "text/xml"))
    result = poll(services, source.id)
    assert result.error is not None and "not a valid RSS or Atom feed" in result.error
    assert source_row(services, source.id).last_error == result.error


def test_an_html_page_is_not_a_feed(services: Services, httpserver: HTTPServer) -> None:
    source = add(services, serve(httpserver, "<html><body><p>hi</p></body></html>", "text/html"))
    result = poll(services, source.id)
    assert result.error is not None and "not a valid RSS or Atom feed" in result.error


def test_republished_with_new_dates_and_links_changes_nothing(services: Services, httpserver: HTTPServer) -> None:
    first = rss(rss_item("g-1", "Stable") + rss_item("g-2", "Also stable"))
    source = add(services, serve(httpserver, first))
    assert poll(services, source.id).added == 2
    before = [(a.id, a.uid, a.published_at, a.url) for a in articles(services)]

    httpserver.clear()
    moved = rss(
        rss_item("g-1", "Stable", date="Wed, 25 Nov 2026 08:00:00 +0000", link="https://example.org/new/1")
        + rss_item("g-2", "Also stable", date="Wed, 25 Nov 2026 08:00:00 +0000", link="https://example.org/new/2")
    )
    serve(httpserver, moved)
    result = poll(services, source.id, NOW + timedelta(hours=1))
    assert (result.added, result.updated, result.unchanged) == (0, 0, 2)
    assert [(a.id, a.uid, a.published_at, a.url) for a in articles(services)] == before


def test_a_changed_body_updates_in_place_keeping_the_date(services: Services, httpserver: HTTPServer) -> None:
    source = add(services, serve(httpserver, rss(rss_item("c-1", "Edited"))))
    poll(services, source.id)
    (original,) = articles(services)
    httpserver.clear()
    edited = rss_item("c-1", "Edited", body="<p>Corrected text.</p>", date="Thu, 26 Nov 2026 08:00:00 +0000")
    serve(httpserver, rss(edited))
    result = poll(services, source.id)
    assert (result.added, result.updated) == (0, 1)
    (article,) = articles(services)
    assert article.id == original.id and article.paragraphs == ["Corrected text."]
    assert article.published_at == original.published_at


def test_an_entry_without_a_title_is_skipped_the_rest_kept(services: Services, httpserver: HTTPServer) -> None:
    items = rss_item("n-1", "Kept first") + rss_item("n-2", "") + rss_item("n-3", "Kept last")
    source = add(services, serve(httpserver, rss(items)))
    result = poll(services, source.id)
    assert result.added == 2
    assert result.error is not None and "1 item skipped" in result.error and "no title" in result.error
    assert [a.title for a in articles(services)] == ["Kept first", "Kept last"]
    row = source_row(services, source.id)
    assert row.last_error == result.error and row.last_ok_at == NOW


def test_scripts_and_event_handlers_are_never_stored(services: Services, httpserver: HTTPServer) -> None:
    body = (
        '<p onclick="steal()">Click <a href="javascript:evil()" onclick="evil()">here</a>.</p>'
        "<script>alert('x')</script><style>p{}</style><img src=x onerror=alert(1)>"
        "<div>Line one<br/>Line two</div>"
    )
    source = add(services, serve(httpserver, rss(rss_item("x-1", "Hostile", body=body))))
    poll(services, source.id)
    (article,) = articles(services)
    assert article.paragraphs == ["Click here.", "Line one Line two"]
    assert article.body == [{"kind": "paragraph", "html": "Click <a>here</a>."},
                            {"kind": "image", "src": "https://example.org/x"},  # relative: read against the entry's link
                            {"kind": "paragraph", "html": "Line one<br>Line two"}]
    stored = " ".join(article.paragraphs + [article.standfirst, article.title, str(article.body)])
    for bad in ("script", "onclick", "alert", "javascript", "onerror", "<img"):
        assert bad not in stored


def test_html_to_paragraphs_unescapes_entities() -> None:
    assert html_to_paragraphs("<h2>Q&amp;A</h2><ul><li>caf&eacute;</li><li>&lt;tag&gt;</li></ul>") == [
        "Q&A", "café", "<tag>",
    ]  # fmt: skip


def test_entries_without_guid_keep_identity_by_title_and_author(services: Services, httpserver: HTTPServer) -> None:
    item = rss_item("unused", "No guid").replace('<guid isPermaLink="false">unused</guid>', "")
    source = add(services, serve(httpserver, rss(item)))
    assert poll(services, source.id).added == 1
    httpserver.clear()
    serve(httpserver, rss(item.replace("https://example.org/unused", "https://example.org/moved")))
    assert poll(services, source.id).unchanged == 1
    assert len(articles(services)) == 1


def test_redirects_are_followed(services: Services, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/feed"})
    serve(httpserver, rss(rss_item("r-1", "Moved feed")))
    source = add(services, httpserver.url_for("/old"))
    assert poll(services, source.id).added == 1


def test_folder_source_ingests_the_seeds(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    for seed in SEEDS.glob("*.txt"):
        shutil.copy(seed, folder)
    source = add(services, str(folder))
    assert source.kind == "folder" and source.location == str(folder.resolve())
    result = poll(services, source.id)
    assert (result.added, result.error) == (1, None)
    assert [a.source_id for a in articles(services)] == [source.id]
    assert poll(services, source.id, NOW + timedelta(hours=2)).unchanged == 1

    (folder / "broken.md").write_text("no front matter here\n")
    result = poll(services, source.id)
    assert result.unchanged == 1 and result.error is not None and "broken.md" in result.error

    shutil.rmtree(folder)
    assert "gone" in (poll(services, source.id).error or "")


def test_poll_due_follows_each_interval(services: Services, httpserver: HTTPServer, tmp_path: Path) -> None:
    feed = add(services, serve(httpserver, rss(rss_item("d-1", "Due"))), interval_minutes=10)
    folder = add(services, str(tmp_path), interval_minutes=60)
    assert {r.source_id for r in poll_due(services, NOW, timeout=TIMEOUT)} == {feed.id, folder.id}
    assert poll_due(services, NOW + timedelta(minutes=9), timeout=TIMEOUT) == []
    assert [r.source_id for r in poll_due(services, NOW + timedelta(minutes=10), timeout=TIMEOUT)] == [feed.id]


def test_add_refuses_bad_locations_and_duplicates(services: Services, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="http:// or https://"):
        add(services, "ftp://example.org/feed.xml")
    with pytest.raises(SourceError, match="no such folder"):
        add(services, str(tmp_path / "missing"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(SourceError, match="not a folder"):
        add(services, str(tmp_path / "file.txt"))
    first = add(services, "https://example.org/feed.xml")
    with pytest.raises(SourceError, match=f"already source {first.id}"):
        add(services, "https://example.org/feed.xml")
    with pytest.raises(SourceError, match="at least 1 minute"):
        add(services, "https://example.org/other.xml", interval_minutes=0)


def test_remove_keeps_the_articles(services: Services, httpserver: HTTPServer) -> None:
    source = add(services, serve(httpserver, rss(rss_item("k-1", "Kept"))))
    poll(services, source.id)
    removed = remove_source(services.sessions, source.id)
    assert removed.article_count == 1
    assert [(a.title, a.source_id) for a in articles(services)] == [("Kept", None)]
    assert list_sources(services.sessions) == []
