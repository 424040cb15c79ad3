"""The seed format: a scraped article page saved as plain text.

Layout: byline (often the name twice), title, optional "Credit: ..." line, body paragraphs
separated by blank lines (a pull quote is a short paragraph repeating body text), then page
furniture: name, "Written by", name, the author's bio, "Topics in this article", "Comments".
"""

from __future__ import annotations

import re
from pathlib import Path

from newsletter.content import blocks as b
from newsletter.content.ingest.parsed import IngestError, ParsedArticle
from newsletter.content.ingest.text import clean_line, read_text

WRITTEN_BY = "written by"
TOPICS = "topics in this article"
COMMENTS = "Comments"
CREDIT = re.compile(r"^(?:image\s+)?credit\s*:\s*", re.IGNORECASE)
# The page's last word is sometimes glued to the line before it ("...hereComments").
GLUED_COMMENTS = re.compile(r"(?<=\S)Comments$")
# Shorter repeats are too likely to be a coincidence ("Read more") to call a pull quote.
PULL_QUOTE_MIN_WORDS = 4


def parse_seed(path: Path) -> ParsedArticle:
    """Read and parse one seed file; IngestError says why a file is unusable."""
    return parse_seed_text(read_text(path), path)


def parse_seed_text(text: str, path: Path) -> ParsedArticle:
    lines = _drop_trailing_furniture([clean_line(line) for line in text.split("\n")])
    lines, bio = _split_author_box(lines)

    head = [i for i, line in enumerate(lines) if line][:3]
    if len(head) < 2:
        raise IngestError(path, "no title (expected a byline line, then a title line)")
    author = _byline(lines[head[0]])
    title = lines[head[1]]
    body_start = head[1] + 1
    credit = ""
    if len(head) == 3 and CREDIT.match(lines[head[2]]):
        credit = CREDIT.sub("", lines[head[2]])
        body_start = head[2] + 1

    blocks = _paragraphs(lines[body_start:])
    quotes = _pull_quotes(blocks)
    paragraphs = [block for block in blocks if block not in quotes]
    if not paragraphs:
        raise IngestError(path, "no body paragraphs after the title")
    return ParsedArticle(
        title=title,
        author=author,
        paragraphs=paragraphs,
        pull_quotes=list(dict.fromkeys(quotes)),
        body=b.serialise(_body(blocks, quotes)),
        image_credit=credit,
        author_bio=bio,
        source=str(path.resolve()),
    )


def _body(paragraphs: list[str], quotes: list[str]) -> list[b.Block]:
    """The body in the page's order, each pull quote where it stood (a repeated one only once)."""
    body: list[b.Block] = []
    shown: set[str] = set()
    for text in paragraphs:
        if text in quotes:
            if text not in shown:
                shown.add(text)
                body.append(b.PullQuote(text))
        else:
            body.append(b.Paragraph(b.escape_text(text)))
    return body


def _drop_trailing_furniture(lines: list[str]) -> list[str]:
    """Cut "Comments" (even glued on) and everything from "Topics in this article" on."""
    lines = list(lines)
    while lines and not lines[-1]:
        lines.pop()
    if lines:
        if lines[-1] == COMMENTS:
            lines.pop()
        else:
            lines[-1] = GLUED_COMMENTS.sub("", lines[-1]).rstrip()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].casefold() == TOPICS:
            return lines[:i]
    return lines


def _split_author_box(lines: list[str]) -> tuple[list[str], str]:
    """Split off the "name / Written by / name / bio" box: (lines before it, the bio)."""
    marks = [i for i, line in enumerate(lines) if line.casefold() == WRITTEN_BY]
    if not marks:
        return lines, ""
    at = marks[-1]
    before = lines[:at]
    if before and before[-1]:  # the name line directly above "Written by"
        before = before[:-1]
    after = lines[at + 1 :]
    if after and after[0]:  # the name line directly below it
        after = after[1:]
    return before, " ".join(_paragraphs(after))


def _byline(line: str) -> str:
    """The author's name: scraped bylines often repeat it ("Jane Doe Jane Doe")."""
    line = re.sub(r"^by\s+", "", line, flags=re.IGNORECASE)
    words = line.split(" ")
    half = len(words) // 2
    if len(words) % 2 == 0 and words[:half] == words[half:]:
        return " ".join(words[:half])
    return line


def _paragraphs(lines: list[str]) -> list[str]:
    """Blank-line separated paragraphs, a wrapped paragraph's lines joined with spaces."""
    result: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line:
            current.append(line)
        elif current:
            result.append(" ".join(current))
            current = []
    return result


def _words(text: str) -> str:
    # Compared as lower-case words only, so quote marks and punctuation do not matter.
    return " ".join(re.findall(r"\w+", text.casefold()))


def _pull_quotes(paragraphs: list[str]) -> list[str]:
    """Paragraphs that only repeat words found in a longer paragraph of the same article."""
    keys = [_words(p) for p in paragraphs]
    quotes: list[str] = []
    for paragraph, key in zip(paragraphs, keys, strict=False):
        if len(key.split()) < PULL_QUOTE_MIN_WORDS:
            continue
        if any(len(other) > len(key) and f" {key} " in f" {other} " for other in keys):
            quotes.append(paragraph)
    return quotes
