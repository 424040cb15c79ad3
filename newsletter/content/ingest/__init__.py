"""The ingest stage: article files (seed text or Markdown) -> Article rows."""

from newsletter.content.ingest.files import article_files, parse_file
from newsletter.content.ingest.load import IngestReport, article_uid, content_hash, ingest_path
from newsletter.content.ingest.markdown import parse_markdown
from newsletter.content.ingest.parsed import IngestError, ParsedArticle
from newsletter.content.ingest.seed import parse_seed

__all__ = [
    "IngestError",
    "IngestReport",
    "ParsedArticle",
    "article_files",
    "article_uid",
    "content_hash",
    "ingest_path",
    "parse_file",
    "parse_markdown",
    "parse_seed",
]
