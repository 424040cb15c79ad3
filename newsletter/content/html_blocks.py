"""Feed HTML -> article blocks: sanitised with nh3 first, then read with the stdlib's html.parser.

Links, emphasis, code, headings, lists, quotes, images (with their figure captions) and rules
survive; scripts, styles, event handlers, forms and every other attribute do not. Relative links
and image addresses are made absolute against the entry's own address.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import nh3

from newsletter.content import blocks as b

# What the parser below understands; anything else is dropped by nh3, its text kept.
_INLINE = {"a", "strong", "b", "em", "i", "code", "br", "span", "small", "sub", "sup", "mark", "u", "s", "abbr"}
_BLOCK = {
    "p", "div", "section", "article", "main", "header", "footer", "aside", "pre", "table", "tr", "td", "th",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "hr", "figure", "figcaption", "img",
    "dl", "dt", "dd",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt", "width", "height", "title"}}
_RENAME = {"b": "strong", "i": "em"}
_KEPT_INLINE = {"a", "strong", "em", "code"}
_HEADINGS = {"h1": 2, "h2": 2, "h3": 3, "h4": 4, "h5": 4, "h6": 4}


def html_to_blocks(markup: str, base_url: str = "") -> list[b.Block]:
    """Untrusted HTML (a feed entry's content) as blocks, in order."""
    clean = nh3.clean(markup, tags=_INLINE | _BLOCK, attributes=_ATTRIBUTES, link_rel=None, strip_comments=True,
                      url_schemes={"http", "https", "mailto"})
    reader = _Reader(base_url)
    reader.feed(clean)
    reader.close()
    reader.flush()
    return reader.blocks


class _Reader(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=False)  # entities pass through as they are, still escaped
        self.base_url = base_url
        self.blocks: list[b.Block] = []
        self.run: list[str] = []  # the inline fragment being read
        self.heading = 0
        self.lists: list[tuple[bool, list[str]]] = []
        self.quote: list[str] | None = None
        self.quote_depth = 0
        self.figure: list[b.Image] | None = None
        self.caption: list[str] | None = None
        self.pre = 0

    def _url(self, value: str | None) -> str:
        return urljoin(self.base_url, value.strip()) if value else ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = _RENAME.get(tag, tag)
        values = dict(attrs)
        if tag in _KEPT_INLINE:
            if tag == "a":
                href = b.safe_url(self._url(values.get("href")))
                self.run.append(f'<a href="{_attr(href)}">' if href else "<a>")
            else:
                self.run.append(f"<{tag}>")
        elif tag == "br":
            self.run.append("<br>")
        elif tag == "img":
            image = b.image(self._url(values.get("src")), values.get("alt") or "", values.get("title") or "",
                            width=values.get("width"), height=values.get("height"))
            if image is None:
                return
            if self.figure is not None:
                self.figure.append(image)
            elif self.lists or self.quote is not None or self.heading:
                self.run.append(b.escape_text(image.alt))  # inline in text: its words stand in
            else:
                self.flush()
                self.blocks.append(image)
        elif tag in _BLOCK:
            self._open_block(tag)

    def _open_block(self, tag: str) -> None:
        if tag == "figcaption" and self.figure is not None:
            self.flush()
            self.caption = []
            return
        self.flush()
        if tag in _HEADINGS and not self.lists and self.quote is None:
            self.heading = _HEADINGS[tag]
        elif tag in ("ul", "ol"):
            self.lists.append((tag == "ol", []))
        elif tag == "blockquote":
            self.quote_depth += 1
            if self.quote is None and not self.lists:
                self.quote = []
        elif tag == "hr" and not self.lists and self.quote is None:
            self.blocks.append(b.Divider())
        elif tag == "figure" and self.figure is None:
            self.figure = []
        elif tag == "pre":
            self.pre += 1
            self.run.append("<code>")

    def handle_endtag(self, tag: str) -> None:
        tag = _RENAME.get(tag, tag)
        if tag in _KEPT_INLINE:
            self.run.append(f"</{tag}>")
        elif tag == "figcaption" and self.caption is not None:
            self.flush()
        elif tag in _BLOCK:
            self._close_block(tag)

    def _close_block(self, tag: str) -> None:
        if tag == "pre" and self.pre:
            self.pre -= 1
            self.run.append("</code>")
        self.flush()
        if tag in _HEADINGS:
            self.heading = 0
        elif tag in ("ul", "ol") and self.lists:
            ordered, items = self.lists.pop()
            if self.lists:
                self.lists[-1][1].extend(items)
            elif (block := b.list_block(ordered, items)) is not None:
                self._emit(block)
        elif tag == "blockquote" and self.quote_depth:
            self.quote_depth -= 1
            if self.quote_depth == 0 and self.quote is not None:
                parts, self.quote = self.quote, None
                if (quoted := b.quote(parts)) is not None:
                    self.blocks.append(quoted)
        elif tag == "figure" and self.figure is not None:
            images, self.figure = self.figure, None
            caption = " ".join(self.caption or [])
            self.caption = None
            for image in images:
                self._emit(b.Image(image.src, image.alt, caption or image.caption, image.credit, image.width, image.height))

    def _emit(self, block: b.Block) -> None:
        if self.quote is not None and isinstance(block, b.ListBlock):
            self.quote.extend(block.items)
        else:
            self.blocks.append(block)

    def handle_data(self, data: str) -> None:
        if self.pre:
            self.run.append(b.escape_text(data).replace("\n", "<br>"))
        else:
            self.run.append(b.escape_text(data))

    def handle_entityref(self, name: str) -> None:
        self.run.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.run.append(f"&#{name};")

    def flush(self) -> None:
        """The inline text read so far becomes an item, a quote's part, a heading, a caption or a paragraph."""
        fragment, self.run = "".join(self.run), []
        if not b.inline_text(fragment):
            return
        if self.caption is not None:
            self.caption.append(b.inline_text(fragment))
        elif self.lists:
            self.lists[-1][1].append(fragment)
        elif self.quote is not None:
            self.quote.append(fragment)
        elif self.heading and (block := b.heading(self.heading, fragment)) is not None:
            self.blocks.append(block)
        elif (para := b.paragraph(fragment)) is not None:
            self.blocks.append(para)


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
