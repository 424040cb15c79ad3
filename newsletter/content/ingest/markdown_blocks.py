"""CommonMark (markdown-it-py) -> article blocks, by walking the token stream.

Raw HTML written in the Markdown is not trusted: the parser runs with ``html`` off, so it stays
visible as text. Links markdown-it would not follow (javascript: and the like) stay text too,
and every inline fragment is cleaned again by ``blocks.sanitise_inline``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import cast

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from newsletter.content import blocks as b

# Strikethrough is parsed only so its marks go: <s> is not kept (sanitise_inline), its words are.
_MD = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
_RENDERER = cast(RendererHTML, _MD.renderer)  # the default renderer; its type is only a Protocol


def markdown_blocks(source: str) -> list[b.Block]:
    """A Markdown body as blocks, in order."""
    tokens = _MD.parse(source)
    walker = _Walker()
    walker.walk(tokens)
    return walker.blocks


def markdown_inline(source: str) -> str:
    """One line of inline Markdown as a cleaned inline fragment (e.g. an image caption)."""
    return b.sanitise_inline(_MD.renderInline(source))


class _Walker:
    def __init__(self) -> None:
        self.blocks: list[b.Block] = []
        self.lists: list[tuple[bool, list[str]]] = []  # open lists; nested ones join the outermost
        self.quote: list[str] | None = None

    def walk(self, tokens: Sequence[Token]) -> None:
        heading = 0
        for token in tokens:
            kind = token.type
            if kind == "heading_open":
                heading = int(token.tag[1:])
            elif kind == "heading_close":
                heading = 0
            elif kind in ("bullet_list_open", "ordered_list_open"):
                self.lists.append((kind == "ordered_list_open", []))
            elif kind in ("bullet_list_close", "ordered_list_close"):
                ordered, items = self.lists.pop()
                if self.lists:
                    self.lists[-1][1].extend(items)
                else:
                    self._add(b.list_block(ordered, items))
            elif kind == "blockquote_open" and self.quote is None and not self.lists:
                self.quote = []
            elif kind == "blockquote_close" and self.quote is not None and token.level == 0:
                self._add(b.quote(self.quote))
                self.quote = None
            elif kind == "hr":
                self._add(b.Divider())
            elif kind in ("code_block", "fence"):
                code = html.escape(token.content.rstrip("\n"), quote=False).replace("\n", "<br>")
                self._inline(f"<code>{code}</code>", heading=0)
            elif kind == "inline":
                self._inline_token(token, heading)

    def _add(self, block: b.Block | None) -> None:
        if block is not None:
            self.blocks.append(block)

    def _inline_token(self, token: Token, heading: int) -> None:
        # A paragraph may hold images: each becomes its own block, the text around it paragraphs.
        run: list[Token] = []
        for child in token.children or []:
            if child.type == "image" and not heading and not self.lists and self.quote is None:
                self._inline(self._render(run), heading)
                run = []
                self._add(b.image(
                    str(child.attrs.get("src", "")), _RENDERER.renderInlineAsText(child.children or [], _MD.options, {}),
                    caption=str(child.attrs.get("title", "") or ""),
                ))
            else:
                run.append(child)
        self._inline(self._render(run), heading)

    def _render(self, children: list[Token]) -> str:
        if not children:
            return ""
        # Line breaks as stored: a soft one is a space, a hard one just <br>.
        return str(_RENDERER.renderInline(children, _MD.options, {})).replace("<br />\n", "<br>").replace("\n", " ")

    def _inline(self, fragment: str, heading: int) -> None:
        if not fragment.strip():
            return
        if self.lists:
            self.lists[-1][1].append(fragment)
        elif self.quote is not None:
            self.quote.append(fragment)
        elif heading:
            self._add(b.heading(heading, fragment))
        else:
            self._add(b.paragraph(fragment))


# -- blocks -> Markdown, for editing an article that was not written in Markdown (seed, feed)

_MARKUP = re.compile(r"([\\`*_\[\]<>!~&])")
_LINE_START = re.compile(r"^(\s*)([#>+\-=|])", re.MULTILINE)
_NUMBERED = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)


def _escape(text: str) -> str:
    text = _MARKUP.sub(r"\\\1", text)
    return _NUMBERED.sub(r"\1\\\2", _LINE_START.sub(r"\1\\\2", text))


class _ToMarkdown(HTMLParser):
    """An inline fragment (already cleaned) as inline Markdown that parses back to it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hrefs: list[str | None] = []
        self.code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            (self.code if self.code is not None else self.out).append("\n" if self.code is not None else "\\\n")
        elif tag == "code":
            self.code = []
        elif tag in ("strong", "em"):
            self.out.append("**" if tag == "strong" else "*")
        elif tag == "a":
            href = dict(attrs).get("href")
            self.hrefs.append(href)
            if href:
                self.out.append("[")

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self.code is not None:
            code = "".join(self.code)
            fence = "`" * (max((len(m) for m in re.findall(r"`+", code)), default=0) + 1)
            pad = " " if code.startswith("`") or code.endswith("`") else ""
            self.out.append(f"{fence}{pad}{code}{pad}{fence}")
            self.code = None
        elif tag in ("strong", "em"):
            self.out.append("**" if tag == "strong" else "*")
        elif tag == "a" and self.hrefs:
            href = self.hrefs.pop()
            if href:
                self.out.append(f"](<{href}>)")

    def handle_data(self, data: str) -> None:
        if self.code is not None:
            self.code.append(data)
        else:
            self.out.append(_escape(" ".join(data.split("\n"))))


def inline_markdown(fragment: str) -> str:
    parser = _ToMarkdown()
    parser.feed(fragment)
    parser.close()
    return "".join(parser.out).strip()


def blocks_markdown(body: list[b.Block]) -> str:
    """Blocks as CommonMark that reads back as the same blocks (a pull quote comes back as a quote)."""
    parts: list[str] = []
    for block in body:
        if isinstance(block, b.Paragraph):
            parts.append(inline_markdown(block.html))
        elif isinstance(block, b.Heading):
            parts.append(f"{'#' * block.level} {inline_markdown(block.html)}")
        elif isinstance(block, b.ListBlock):
            parts.append("\n".join(
                f"{f'{n}.' if block.ordered else '-'} {inline_markdown(item)}" for n, item in enumerate(block.items, 1)
            ))
        elif isinstance(block, b.Quote):
            paras = [inline_markdown(part) for part in block.html.split("<br><br>")]
            parts.append("\n>\n".join("\n".join(f"> {line}" for line in p.split("\n")) for p in paras))
        elif isinstance(block, b.PullQuote):
            parts.append(f"> {_escape(block.text)}")
        elif isinstance(block, b.Image):
            title = ' "{}"'.format(block.caption.replace('"', '\\"')) if block.caption else ""
            parts.append(f"![{_escape(block.alt)}](<{block.src}>{title})")
        elif isinstance(block, b.Divider):
            parts.append("---")
        elif isinstance(block, b.LinkCard):
            parts.append(f"<{block.url}>")
    return "\n\n".join(parts)
