"""Markdown articles: YAML front matter for the metadata, a CommonMark body.

The body becomes typed blocks (``markdown_blocks``): links, emphasis, code, headings, lists,
quotes, images, dividers and link cards; HTML written in the body stays as literal text. The
front matter's prose fields stay plain text (``plain_text``).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import yaml
from frontmatter.default_handlers import YAMLHandler

from newsletter.content import blocks as b
from newsletter.content.ingest.markdown_blocks import markdown_blocks
from newsletter.content.ingest.parsed import IngestError, ParsedArticle
from newsletter.content.ingest.text import clean_line, read_text

# Front matter key -> accepted spellings, first match wins.
KEYS = {
    "title": ("title",),
    "author": ("author",),
    "standfirst": ("standfirst", "summary"),
    "image_url": ("image", "image_url"),
    "image_credit": ("credit", "image_credit"),
    "author_bio": ("bio", "author_bio"),
    "url": ("url",),
}
PROSE_FIELDS = ("standfirst", "author_bio")
DATE_KEYS = ("date", "published", "published_at")
DATE_HINT = "use YYYY-MM-DD or YYYY-MM-DDTHH:MM[+HH:MM]"

_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>~|])")
_CODE = re.compile(r"(`+)(.+?)\1")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\[[^\]]*\])")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_EMPHASIS = (
    re.compile(r"\*\*(?!\s)(.+?)(?<!\s)\*\*"),
    re.compile(r"(?<!\w)__(?!\s)(.+?)(?<!\s)__(?!\w)"),
    re.compile(r"\*(?!\s)(.+?)(?<!\s)\*"),
    re.compile(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)"),
    re.compile(r"~~(?!\s)(.+?)(?<!\s)~~"),
)
# Private-use characters stand in for escaped text while the emphasis patterns run.
_HOLD = "\ue000{}\ue001"
_HELD = re.compile("\ue000(\\d+)\ue001")


def parse_markdown(path: Path) -> ParsedArticle:
    """Read and parse one Markdown file; IngestError says why a file is unusable."""
    return parse_markdown_text(read_text(path), path)


def parse_markdown_text(text: str, path: Path) -> ParsedArticle:
    meta, body = _front_matter(text, path)
    fields = {name: _text_value(meta, keys, path) for name, keys in KEYS.items()}
    # The prose fields may carry inline Markdown like the body; names, links and credits do not.
    for name in PROSE_FIELDS:
        fields[name] = plain_text(fields[name])
    if not fields["title"]:
        raise IngestError(path, "the front matter has no title (add a line 'title: ...')")
    parsed = markdown_blocks(body)
    paragraphs, quotes = b.plain_columns(parsed)
    if not parsed or not any(b.block_text(block) for block in parsed):
        raise IngestError(path, "no body paragraphs after the front matter")
    return ParsedArticle(
        title=fields["title"],
        author=fields["author"],
        published_at=_published(meta, path),
        standfirst=fields["standfirst"],
        paragraphs=paragraphs,
        pull_quotes=quotes,
        body=b.serialise(parsed),
        body_markdown=body.strip("\n"),
        # Only an absolute http(s) address can show in an email; anything else (a relative path,
        # a script) is left out rather than rendered as a broken or unsafe image.
        image_url=b.safe_url(fields["image_url"], mailto=False),
        image_credit=fields["image_credit"],
        author_bio=fields["author_bio"],
        url=fields["url"],
        source=str(path.resolve()),
    )


def _front_matter(text: str, path: Path) -> tuple[dict[str, object], str]:
    handler = YAMLHandler()
    text = text.strip()
    if not handler.detect(text):
        raise IngestError(path, "no front matter (the file must start with a '---' line, then 'title: ...')")
    try:
        raw, body = handler.split(text)
    except ValueError:
        raise IngestError(path, "bad front matter: no closing '---' line") from None
    try:
        meta = handler.load(raw)
    except yaml.YAMLError as exc:
        raise IngestError(path, f"bad front matter: {' '.join(str(exc).split())}") from exc
    except ValueError as exc:  # YAML read an impossible date such as 2024-13-45
        raise IngestError(path, f"bad date in the front matter: {exc} ({DATE_HINT})") from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise IngestError(path, "bad front matter: expected 'key: value' lines")
    return {str(key).lower(): value for key, value in meta.items()}, body


def _text_value(meta: dict[str, object], keys: tuple[str, ...], path: Path) -> str:
    for key in keys:
        value = meta.get(key)
        if value is None:
            continue
        if isinstance(value, (list, dict)):
            raise IngestError(path, f"bad front matter: '{key}' must be text, not a list or mapping")
        return " ".join(clean_line(line) for line in str(value).splitlines()).strip()
    return ""


def _published(meta: dict[str, object], path: Path) -> datetime | None:
    """The front matter date as aware UTC; a bare date is midnight UTC, a naive time is UTC."""
    key = next((k for k in DATE_KEYS if meta.get(k) not in (None, "")), None)
    if key is None:
        return None
    value = meta[key]
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        moment = _parse_date(value.strip(), path, key)
    else:
        raise IngestError(path, f"bad date in '{key}': {value!r} ({DATE_HINT})")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _parse_date(value: str, path: Path, key: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value)  # the e-mail/RSS style, "Fri, 20 Dec 2024 10:00:00 +0000"
    except (TypeError, ValueError, IndexError):
        raise IngestError(path, f"bad date in '{key}': {value!r} ({DATE_HINT})") from None


def plain_text(markdown: str) -> str:
    """Simple inline Markdown as plain text: emphasis marks dropped, links kept as their words."""
    held: list[str] = []

    def hold(text: str) -> str:
        held.append(text)
        return _HOLD.format(len(held) - 1)

    # Code spans first: inside them a backslash is literal, as in Markdown itself.
    text = _CODE.sub(lambda m: hold(m.group(2).strip()), markdown)
    text = _ESCAPE.sub(lambda m: hold(m.group(1)), text)
    text = _AUTOLINK.sub(lambda m: hold(m.group(1)), text)
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(1), text)
    for pattern in _EMPHASIS:
        # Repeated so nested emphasis ("***both***") loses every layer.
        previous = None
        while previous != text:
            previous, text = text, pattern.sub(r"\1", text)
    text = _HELD.sub(lambda m: held[int(m.group(1))], text)
    return " ".join(text.split())
