"""Plain-text formatting for the text/plain part: wrapped paragraphs, underlined titles, quotes.

Registered as Jinja filters by the renderer. Long words (URLs) are never broken, so a link
stays clickable even when it is wider than the column. ``block_text`` writes an article's
blocks: each link's URL in brackets after its words, each image as "[Image: alt]".
"""

from __future__ import annotations

import re
import textwrap
from html.parser import HTMLParser
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at run time: the cage's child loads this module and stays small
    from newsletter.content.blocks import Block

WIDTH = 72
_BLANK_RUNS = re.compile(r"\n{3,}")


def wrap(text: str, width: int = WIDTH, indent: str = "") -> str:
    """One paragraph, whitespace normalised, wrapped at ``width`` columns."""
    return textwrap.fill(
        " ".join(str(text).split()),
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def underline(text: str, char: str = "=", width: int = WIDTH) -> str:
    """A title wrapped and underlined as wide as its longest line."""
    wrapped = wrap(text, width)
    longest = max((len(line) for line in wrapped.splitlines()), default=0)
    return f"{wrapped}\n{char * longest}"


def blockquote(text: str, width: int = WIDTH) -> str:
    """A pull quote as e-mail quoted lines ("> ...")."""
    return wrap(text, width, indent="> ")


def tidy(text: str) -> str:
    """Strip trailing spaces and collapse runs of blank lines that template logic leaves."""
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_RUNS.sub("\n\n", lines).strip("\n") + "\n"



class _Inline(HTMLParser):
    """An inline fragment's words; a link's URL follows its words in brackets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open: list[tuple[str, int]] = []  # (href, where its words start)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append(" ")
        elif tag == "a":
            self.open.append((dict(attrs).get("href") or "", len(self.parts)))
        elif tag == "code":
            self.parts.append("`")

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self.parts.append("`")
        elif tag == "a" and self.open:
            href, start = self.open.pop()
            words = " ".join("".join(self.parts[start:]).split())
            shown = href.removeprefix("mailto:")
            if href and words != shown:  # a bare URL or address speaks for itself
                self.parts.append(f" ({shown})")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def inline_text(fragment: str) -> str:
    """An inline HTML fragment as one line of text, each link's URL after its words."""
    parser = _Inline()
    parser.feed(fragment)
    parser.close()
    return " ".join("".join(parser.parts).split())


def _hanging(text: str, first: str, width: int = WIDTH) -> str:
    return textwrap.fill(text, width=width, initial_indent=first, subsequent_indent=" " * len(first),
                         break_long_words=False, break_on_hyphens=False)


def block_text(block: Block, width: int = WIDTH) -> str:
    """One article block as the text part shows it: wrapped, links kept, images as their alt text."""
    if block.kind == "paragraph":
        return wrap(inline_text(block.html), width)
    if block.kind == "heading":
        return underline(inline_text(block.html), "-", width)
    if block.kind == "list":
        return "\n".join(
            _hanging(inline_text(item), f"{n}. " if block.ordered else "- ", width)
            for n, item in enumerate(block.items, start=1)
        )
    if block.kind == "quote":
        return "\n>\n".join(wrap(inline_text(p), width, "> ") for p in block.html.split("<br><br>"))
    if block.kind == "pull_quote":
        return blockquote(f"“{block.text}”", width)
    if block.kind == "image":
        notes = "".join(f" ({note})" for note in (block.caption, f"Credit: {block.credit}" if block.credit else "") if note)
        return wrap(f"[Image: {block.alt}]{notes}" if block.alt else f"[Image]{notes}", width)
    if block.kind == "divider":
        return "---"
    if block.kind == "link_card":
        return f"{wrap(block.title, width)}\n{block.url}" if block.title else block.url
    return ""
