"""The typed values passed from the parsers to the loader: a parsed article, or why it failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from newsletter.errors import InvalidInput


class IngestError(InvalidInput):
    """A file (or the path given) could not be ingested; says which and why."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass(frozen=True)
class ParsedArticle:
    """One article as read from a file, before it has an identity in the database."""

    title: str
    author: str = ""
    # None when the file gives no date: the loader then uses the first time it saw the article.
    published_at: datetime | None = None
    standfirst: str = ""
    # The plain-text view of ``body`` (blocks.plain_columns), kept for the old columns' readers.
    paragraphs: list[str] = field(default_factory=list)
    pull_quotes: list[str] = field(default_factory=list)
    # The body as serialised blocks (newsletter.content.blocks), and the Markdown it came from.
    body: list[dict[str, Any]] = field(default_factory=list)
    body_markdown: str = ""
    image_url: str = ""
    image_credit: str = ""
    author_bio: str = ""
    url: str = ""
    source: str = ""
