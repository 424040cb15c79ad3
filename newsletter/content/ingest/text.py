"""Reading article files as clean text: UTF-8 only, odd whitespace made plain."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from newsletter.content.ingest.parsed import IngestError

# Scraped pages carry no-break, thin and zero-width spaces; stored text uses plain ones.
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_SPACES = re.compile(r"[^\S\n]+")


def read_text(path: Path) -> str:
    """The file's text with line breaks unified; IngestError if it is empty or not UTF-8 text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    if not data.strip():
        raise IngestError(path, "the file is empty")
    if b"\x00" in data:
        raise IngestError(path, "not a text file (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(path, f"not UTF-8 text (bad byte at offset {exc.start})") from exc
    # splitlines knows every Unicode line break (\r\n, \r, U+2028, ...).
    text = "\n".join(text.splitlines())
    if not text.strip():
        raise IngestError(path, "the file is empty")
    return text


def clean_line(line: str) -> str:
    """One line with every kind of space made a single plain space, controls dropped, stripped."""
    line = line.translate(_ZERO_WIDTH)
    line = "".join(
        " " if ch.isspace() else ch for ch in line if ch.isspace() or unicodedata.category(ch) != "Cc"
    )
    return _SPACES.sub(" ", line).strip()


def blocks(text: str) -> list[list[str]]:
    """The text as blank-line separated blocks, each a list of cleaned, non-empty lines."""
    result: list[list[str]] = []
    current: list[str] = []
    for raw in text.split("\n"):
        line = clean_line(raw)
        if line:
            current.append(line)
        elif current:
            result.append(current)
            current = []
    if current:
        result.append(current)
    return result
