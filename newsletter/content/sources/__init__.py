"""Article sources: RSS/Atom feeds and folders of article files, each polled on its own interval."""

from newsletter.content.sources.feeds import DEFAULT_TIMEOUT, MAX_ENTRIES, FeedError, html_to_paragraphs
from newsletter.content.sources.poll import PollResult, due_source_ids, poll_due, poll_source, poll_sources
from newsletter.content.sources.registry import (
    SourceError,
    SourceInfo,
    SourceNotFound,
    add_source,
    count_sources,
    get_source,
    list_sources,
    remove_source,
)
from newsletter.content.sources.safe_fetch import AddressPolicy, AddressRefused

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ENTRIES",
    "AddressPolicy",
    "AddressRefused",
    "FeedError",
    "PollResult",
    "SourceError",
    "SourceInfo",
    "SourceNotFound",
    "add_source",
    "count_sources",
    "due_source_ids",
    "get_source",
    "html_to_paragraphs",
    "list_sources",
    "poll_due",
    "poll_source",
    "poll_sources",
    "remove_source",
]
