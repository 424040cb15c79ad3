"""Plain-text formatting for the text/plain part: wrapped paragraphs, underlined titles, quotes.

Registered as Jinja filters by the renderer. Long words (URLs) are never broken, so a link
stays clickable even when it is wider than the column.
"""

from __future__ import annotations

import re
import textwrap

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

