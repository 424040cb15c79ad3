"""Which files under a path are articles, and which parser reads each one."""

from __future__ import annotations

from pathlib import Path

from newsletter.content.ingest.markdown import parse_markdown
from newsletter.content.ingest.parsed import IngestError, ParsedArticle
from newsletter.content.ingest.seed import parse_seed

SEED_SUFFIXES = (".txt",)
MARKDOWN_SUFFIXES = (".md", ".markdown")


def article_files(path: Path) -> list[tuple[str, Path]]:
    """(name to report, file) for a single file, or for every article file under a directory.

    A directory is walked recursively in sorted order; other files and hidden ones (dot files,
    editor and VCS debris) are skipped. A file named explicitly must be an article file.
    """
    if not path.exists():
        raise IngestError(path, "no such file or directory")
    if path.is_file():
        if not _is_article(path):
            expected = ", ".join(SEED_SUFFIXES + MARKDOWN_SUFFIXES)
            raise IngestError(path, f"not an article file (expected {expected})")
        return [(path.name, path)]
    if not path.is_dir():
        raise IngestError(path, "not a file or a directory")
    try:
        found = sorted(
            (file.relative_to(path).as_posix(), file)
            for file in path.rglob("*")
            if file.is_file()
            and _is_article(file)
            and not any(part.startswith(".") for part in file.relative_to(path).parts)
        )
    except OSError as exc:
        raise IngestError(path, f"cannot read the directory: {exc.strerror or exc}") from exc
    return found


def parse_file(path: Path) -> ParsedArticle:
    """Parse one article file with the parser its suffix names."""
    if path.suffix.lower() in MARKDOWN_SUFFIXES:
        return parse_markdown(path)
    if path.suffix.lower() in SEED_SUFFIXES:
        return parse_seed(path)
    raise IngestError(path, "not an article file")


def _is_article(path: Path) -> bool:
    return path.suffix.lower() in SEED_SUFFIXES + MARKDOWN_SUFFIXES
