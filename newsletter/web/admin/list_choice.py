"""The admin pages kept per list (design, schedule): which list, from ``?list=SLUG`` in the query
string, so each of the page's forms and links keeps it; the first list without it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from newsletter.lists.catalog import ListInfo

ListSlug = Annotated[str | None, Query(alias="list", max_length=100)]


def list_query(mailing_list: ListInfo, joiner: str = "?") -> str:
    """``?list=SLUG`` for a list other than the first (slugs are [a-z0-9-]: nothing to escape)."""
    return "" if mailing_list.first else f"{joiner}list={mailing_list.slug}"
