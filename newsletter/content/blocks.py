"""An article's body: a list of typed blocks, stored as JSON on the Article (``body``).

Inline text (paragraphs, headings, list items, quotes) is kept as a small allow-listed HTML
fragment: links (http, https, mailto only), strong, em, code and br. Every fragment is cleaned
with nh3 when a block is built and again when stored blocks are read back (``parse``), so a
row edited by hand or written by older code can never put other markup into an e-mail.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

import nh3

INLINE_TAGS = frozenset({"a", "strong", "em", "code", "br"})
URL_SCHEMES = ("http://", "https://", "mailto:")
MAX_ALT = 500
# Inline tags nested deeper than this are unwrapped (words kept): a hostile feed's 500 nested <b>
# would otherwise pass the e-mail renderer's nesting limit and stop the whole issue rendering.
MAX_INLINE_DEPTH = 8
_BARE_URL = re.compile(r"^https?://[^\s<>\"]+$")
_INLINE_TAG = re.compile(r"<(/?)(a|strong|em|code)\b[^>]*>")


def safe_url(url: str, *, mailto: bool = True) -> str:
    """The URL if it is absolute http(s) (or mailto:), else "": nothing relative or scripted."""
    url = url.strip()
    schemes = URL_SCHEMES if mailto else URL_SCHEMES[:2]
    if not url.lower().startswith(schemes) or any(c.isspace() or c in "<>\"" for c in url):
        return ""
    if not url.lower().startswith("mailto:"):
        try:
            if not urlsplit(url).hostname:
                return ""
        except ValueError:
            return ""
    return url


def _only_safe_hrefs(tag: str, attribute: str, value: str) -> str | None:
    # Also drops the attributes ammonia allows everywhere by default (title, lang).
    if tag == "a" and attribute == "href":
        return safe_url(value) or None
    return None


def sanitise_inline(fragment: str) -> str:
    """An inline HTML fragment reduced to the allow-list; anything else is dropped (its text kept)."""
    clean = nh3.clean(
        fragment,
        tags=set(INLINE_TAGS),
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        attribute_filter=_only_safe_hrefs,
        link_rel=None,
        strip_comments=True,
    )
    return _flatten(clean).strip()


def _flatten(clean: str) -> str:
    """Unwrap tags nested past MAX_INLINE_DEPTH; nh3's output is balanced, so a stack pairs them."""
    if clean.count("<") <= MAX_INLINE_DEPTH:
        return clean
    kept: list[bool] = []

    def visit(match: re.Match[str]) -> str:
        if match.group(1):  # an end tag: kept if its start tag was
            return match.group(0) if kept and kept.pop() else ""
        keep = sum(kept) < MAX_INLINE_DEPTH
        kept.append(keep)
        return match.group(0) if keep else ""

    return _INLINE_TAG.sub(visit, clean)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def inline_text(fragment: str) -> str:
    """The words of an inline fragment, tags dropped and entities read, spaces collapsed."""
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    return " ".join("".join(parser.parts).split())


def escape_text(text: str) -> str:
    """Plain text as an inline fragment (seed files and old rows hold plain text)."""
    return html.escape(text, quote=False)


@dataclass(frozen=True)
class Paragraph:
    html: str
    kind: Literal["paragraph"] = "paragraph"


@dataclass(frozen=True)
class Heading:
    level: int  # 2-4: the article's title is the h1
    html: str
    kind: Literal["heading"] = "heading"


@dataclass(frozen=True)
class ListBlock:
    ordered: bool
    items: tuple[str, ...]  # inline fragments
    kind: Literal["list"] = "list"


@dataclass(frozen=True)
class Quote:
    html: str  # a quoted passage; its paragraphs are separated by <br><br>
    kind: Literal["quote"] = "quote"


@dataclass(frozen=True)
class PullQuote:
    text: str  # plain text repeating the body's words, shown large
    kind: Literal["pull_quote"] = "pull_quote"


@dataclass(frozen=True)
class Image:
    src: str  # absolute URL, as given
    alt: str = ""
    caption: str = ""
    credit: str = ""
    width: int | None = None
    height: int | None = None
    kind: Literal["image"] = "image"


@dataclass(frozen=True)
class Divider:
    kind: Literal["divider"] = "divider"


@dataclass(frozen=True)
class LinkCard:
    url: str
    title: str = ""
    domain: str = ""
    kind: Literal["link_card"] = "link_card"


Block: TypeAlias = Paragraph | Heading | ListBlock | Quote | PullQuote | Image | Divider | LinkCard


def _dimension(value: Any) -> int | None:
    try:
        number = int(str(value).strip().removesuffix("px"))
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= 10_000 else None


def link_card(url: str, title: str = "") -> LinkCard | None:
    url = safe_url(url, mailto=False)
    if not url:
        return None
    domain = (urlsplit(url).hostname or "").removeprefix("www.")
    return LinkCard(url=url, title=" ".join(title.split())[:300], domain=domain)


def image(src: str, alt: str = "", caption: str = "", credit: str = "", width: Any = None, height: Any = None) -> Image | None:
    """An image block, or None when its address is not an absolute http(s) URL."""
    src = safe_url(src, mailto=False)
    if not src:
        return None
    return Image(
        src=src,
        alt=" ".join(alt.split())[:MAX_ALT],
        caption=" ".join(caption.split()),
        credit=" ".join(credit.split()),
        width=_dimension(width),
        height=_dimension(height),
    )


def paragraph(fragment: str) -> Block | None:
    """A paragraph from an inline fragment; a bare URL alone (as text or as its own link) is a link card."""
    clean = sanitise_inline(fragment)
    text = inline_text(clean)
    if not text:
        return None
    if _BARE_URL.match(text) and (clean == escape_text(text) or clean == f'<a href="{html.escape(text)}">{escape_text(text)}</a>'):
        card = link_card(text)
        if card is not None:
            return card
    return Paragraph(clean)


def heading(level: int, fragment: str) -> Heading | None:
    clean = sanitise_inline(fragment)
    return Heading(min(max(level, 2), 4), clean) if inline_text(clean) else None


def list_block(ordered: bool, items: list[str]) -> ListBlock | None:
    kept = tuple(clean for clean in (sanitise_inline(item) for item in items) if inline_text(clean))
    return ListBlock(ordered, kept) if kept else None


def quote(parts: list[str]) -> Quote | None:
    kept = [clean for clean in (sanitise_inline(part) for part in parts) if inline_text(clean)]
    return Quote("<br><br>".join(kept)) if kept else None


# -- storage: blocks <-> JSON


def serialise(blocks: list[Block]) -> list[dict[str, Any]]:
    """Blocks as JSON-ready dicts (the ``body`` column)."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        data = {k: v for k, v in vars(block).items() if v not in (None, "")}
        if isinstance(block, ListBlock):
            data["items"] = list(block.items)
        out.append(data)
    return out


def parse(data: Any) -> list[Block]:
    """Stored JSON back as blocks, every fragment cleaned again; unknown or broken entries are skipped."""
    blocks: list[Block] = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        block = _parse_one(item)
        if block is not None:
            blocks.append(block)
    return blocks


def _str(item: dict[str, Any], key: str) -> str:
    value = item.get(key, "")
    return value if isinstance(value, str) else ""


def _parse_one(item: dict[str, Any]) -> Block | None:
    kind = item.get("kind")
    if kind == "paragraph":
        clean = sanitise_inline(_str(item, "html"))
        return Paragraph(clean) if inline_text(clean) else None
    if kind == "heading":
        level = item.get("level")
        return heading(level if isinstance(level, int) else 2, _str(item, "html"))
    if kind == "list":
        items = item.get("items")
        return list_block(bool(item.get("ordered")), [i for i in items if isinstance(i, str)] if isinstance(items, list) else [])
    if kind == "quote":
        clean = sanitise_inline(_str(item, "html"))
        return Quote(clean) if inline_text(clean) else None
    if kind == "pull_quote":
        text = " ".join(_str(item, "text").split())
        return PullQuote(text) if text else None
    if kind == "image":
        return image(_str(item, "src"), _str(item, "alt"), _str(item, "caption"), _str(item, "credit"),
                     item.get("width"), item.get("height"))
    if kind == "divider":
        return Divider()
    if kind == "link_card":
        return link_card(_str(item, "url"), _str(item, "title"))
    return None


# -- plain text views and old rows


def block_text(block: Block) -> str:
    """The words a block shows, for search, previews and the old ``paragraphs`` column."""
    if isinstance(block, (Paragraph, Heading, Quote)):
        return inline_text(block.html)
    if isinstance(block, ListBlock):
        return " ".join(inline_text(item) for item in block.items)
    if isinstance(block, PullQuote):
        return block.text
    if isinstance(block, Image):
        return block.caption or block.alt
    if isinstance(block, LinkCard):
        return block.url
    return ""


def plain_columns(blocks: list[Block]) -> tuple[list[str], list[str]]:
    """(paragraphs, pull quotes) as plain text, kept in the old columns for their readers."""
    paragraphs = [block_text(b) for b in blocks if not isinstance(b, (PullQuote, Image, Divider))]
    quotes = [b.text for b in blocks if isinstance(b, PullQuote)]
    return [p for p in paragraphs if p], quotes


def from_plain(paragraphs: list[str], pull_quotes: list[str]) -> list[Block]:
    """An article stored before blocks: its pull quotes where the e-mail showed them, spread evenly
    between the paragraphs (the same rule as migration 0017 and the renderer before it)."""
    paras = [p for p in paragraphs if p.strip()]
    pulls = [q for q in pull_quotes if q.strip()]
    after: dict[int, list[str]] = {}
    for i, text in enumerate(pulls):
        at = round((i + 1) * len(paras) / (len(pulls) + 1))
        after.setdefault(min(max(at, 1), len(paras)) if paras else 0, []).append(text)
    blocks: list[Block] = [PullQuote(" ".join(q.split())) for q in after.get(0, [])]
    for n, text in enumerate(paras, start=1):
        blocks.append(Paragraph(escape_text(" ".join(text.split()))))
        blocks.extend(PullQuote(" ".join(q.split())) for q in after.get(n, []))
    return blocks
