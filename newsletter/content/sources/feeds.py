"""RSS 2.0 and Atom feeds: fetched by safe_fetch, parsed with feedparser, their HTML made blocks.

An entry's HTML is sanitised with nh3 and read into typed blocks (``content.html_blocks``):
its links, lists, quotes and images are kept, no other markup from a feed is ever stored.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin

import feedparser
import nh3

from newsletter.errors import Unavailable
from newsletter.content import blocks as b
from newsletter.content.html_blocks import html_to_blocks
from newsletter.content.ingest.text import blocks, clean_line

DEFAULT_TIMEOUT = 10.0  # seconds, for connecting and for each read
MAX_FEED_BYTES = 10 * 1024 * 1024  # a feed is a few hundred KB; anything far larger is not one
MAX_ENTRIES = 500  # per poll, the newest; a feed's archive of thousands is not news
USER_AGENT = "newsletter-feed-poller/0.1 (+self-hosted)"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
READ_MORE = "Read more: {}"
MAX_TITLE, MAX_AUTHOR, MAX_URL, MAX_STANDFIRST = 500, 200, 1000, 1000  # the Article columns

# Kept through nh3 only so their boundaries can become paragraph breaks; no attributes survive.
_BLOCK_TAGS = {
    "p", "br", "div", "li", "ul", "ol", "blockquote", "pre", "section", "article",
    "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "hr", "figure", "figcaption",
}  # fmt: skip
_BREAK = re.compile(r"</?(?:%s)\b[^>]*>" % "|".join(sorted(_BLOCK_TAGS)), re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^>]*>")


class FeedError(Unavailable):
    """A feed could not be fetched or read; the message is the readable reason, shown anywhere.

    ``detail`` may say more (the address, the socket error) for the operator's command line only.
    """

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


@dataclass(frozen=True)
class FeedEntry:
    """One feed entry as plain text, before it has an identity in the database."""

    key: str  # the entry's guid/id, or its normalised title and author when it has none
    title: str
    author: str
    url: str
    published_at: datetime | None
    standfirst: str
    paragraphs: list[str]  # the plain text of body, for the old column
    body: list[dict[str, Any]] = field(default_factory=list)  # serialised blocks
    image_url: str = ""  # the entry's own picture (media:content, media:thumbnail, an image enclosure)


@dataclass
class Feed:
    title: str
    entries: list[FeedEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why each unusable entry was left out
    over_cap: int = 0  # older entries left out beyond max_entries


def parse_feed(data: bytes, base_url: str = "", *, max_entries: int = MAX_ENTRIES) -> Feed:
    """RSS 2.0 or Atom bytes -> Feed of its newest max_entries; FeedError when it is not a feed at all."""
    headers = {"content-location": base_url} if base_url else None
    # nh3 sanitises every HTML value below and keeps no links: feedparser's own sanitiser and URI
    # resolution would be the same work done twice (a third of its time on a 6,000-entry feed).
    parsed: Any = feedparser.parse(data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    feed = Feed(title=_text_of(parsed.feed, "title")[:300])
    kept = _newest(list(parsed.entries), max_entries)
    feed.over_cap = len(parsed.entries) - len(kept)
    for position in kept:
        entry = parsed.entries[position - 1]
        item = _entry(entry, base_url)
        if item is None:
            feed.skipped.append(f"entry {position} has no title")
        else:
            feed.entries.append(item)
    # feedparser salvages what it can from broken XML; only when nothing usable is left is it an error.
    if not feed.entries and (parsed.bozo or not parsed.version):
        reason = parsed.get("bozo_exception")
        detail = f": {' '.join(str(reason).split())}" if reason else ""
        raise FeedError(f"not a valid RSS or Atom feed{detail}")
    return feed


def _newest(entries: list[Any], limit: int) -> list[int]:
    """The 1-based positions of the newest `limit` entries, in feed order; undated ones count as oldest."""
    positions = list(range(1, len(entries) + 1))
    if len(entries) <= limit:
        return positions

    def age(position: int) -> tuple[bool, datetime, int]:
        published = _date(entries[position - 1])
        return (published is not None, published or datetime.min.replace(tzinfo=timezone.utc), -position)

    return sorted(sorted(positions, key=age, reverse=True)[:limit])


def html_to_paragraphs(markup: str) -> list[str]:
    """Sanitised HTML as plain-text paragraphs: block elements and <br> split, entities unescaped."""
    # nh3 drops <script>/<style> with their content and every attribute (onclick, style, href).
    clean = nh3.clean(markup, tags=_BLOCK_TAGS, attributes={}, link_rel=None)
    text = _ANY_TAG.sub("", _BREAK.sub("\n\n", clean))
    return [html.unescape(" ".join(block)) for block in blocks(text)]


def entry_key(guid: str, title: str, author: str) -> str:
    """What identifies an entry within its feed: the guid, else its normalised title and author."""
    if guid.strip():
        return json.dumps(["id", guid.strip()])
    return json.dumps(["title", _normalised(title), _normalised(author)], ensure_ascii=False)


def entry_hash(entry: FeedEntry) -> str:
    # The link and the date stay out: a feed that re-dates or re-links an entry has not changed it.
    body = [block for block in entry.body if block != _read_more(entry.url)]
    value: list[Any] = [entry.title, entry.author, entry.standfirst, body]
    if entry.image_url:  # only when there is one, so entries stored before it was read keep their hash
        value.append(entry.image_url)
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _read_more(url: str) -> dict[str, Any]:
    link = b.escape_text(url).replace('"', "&quot;")
    return {"kind": "paragraph", "html": READ_MORE.format(f'<a href="{link}">{b.escape_text(url)}</a>')}


def _entry(entry: Any, base_url: str = "") -> FeedEntry | None:
    title = _text_of(entry, "title")[:MAX_TITLE]
    if not title:
        return None
    author = clean_line(str(entry.get("author", "")))[:MAX_AUTHOR]
    url = str(entry.get("link", "")).strip()
    url = url if len(url) <= MAX_URL and url.startswith(("http://", "https://")) else ""
    # Relative links and images in the entry are read against the entry's own page.
    base = urljoin(base_url, url) if url else base_url
    summary_html = str(entry.get("summary", ""))
    summary = html_to_paragraphs(summary_html)
    contents = entry.get("content") or []
    full = html_to_blocks(str(contents[0].get("value", "")), base) if contents else []
    full_text = [b.block_text(block) for block in full if b.block_text(block)]
    standfirst = ""
    if full_text:
        body = b.serialise(full)
        # An RSS description beside content:encoded is a teaser; as a copy of the text it says nothing.
        teaser = " ".join(summary)
        if teaser and not full_text[0].startswith(teaser[:80]):
            standfirst = teaser[:MAX_STANDFIRST]
    else:
        body = b.serialise(html_to_blocks(summary_html, base)) + ([_read_more(url)] if url else [])
    if not body:
        body = [_read_more(url)] if url else [{"kind": "paragraph", "html": b.escape_text(title)}]
    paragraphs, _ = b.plain_columns(b.parse(body))
    return FeedEntry(
        key=entry_key(str(entry.get("id", "")), title, author),
        title=title,
        author=author,
        url=url,
        published_at=_date(entry),
        standfirst=standfirst,
        paragraphs=paragraphs,
        body=body,
        image_url=_feature_image(entry, base),
    )


def _feature_image(entry: Any, base: str) -> str:
    """The entry's picture: Media RSS content or thumbnail, else an image enclosure; absolute http(s) only."""
    found = [item.get("url", "") for item in entry.get("media_content") or []
             if item.get("medium") == "image" or str(item.get("type", "")).startswith("image/")]
    found += [item.get("url", "") for item in entry.get("media_thumbnail") or []]
    found += [item.get("href", "") for item in entry.get("enclosures") or []
              if str(item.get("type", "")).startswith("image/")]
    for url in found:
        url = b.safe_url(urljoin(base, str(url).strip()), mailto=False)
        if url and len(url) <= MAX_URL:
            return url
    return ""


def _text_of(node: Any, name: str) -> str:
    value = str(node.get(name, ""))
    detail = node.get(f"{name}_detail") or {}
    if "html" in str(detail.get("type", "")):
        return " ".join(html_to_paragraphs(value))
    return clean_line(value)


def _date(entry: Any) -> datetime | None:
    # feedparser gives both as UTC struct_times; timegm reads them as UTC.
    for name in ("published_parsed", "updated_parsed"):
        value = entry.get(name)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _normalised(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())
