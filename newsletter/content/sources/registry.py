"""The list of sources: add (a feed URL or a folder), list with article counts, remove."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import InvalidInput, NotFound
from newsletter.db.engine import transaction
from newsletter.content.models import Article, Source, SourceKind
from newsletter.content.sources.safe_fetch import AddressPolicy, AddressRefused

DEFAULT_INTERVAL_MINUTES = 60
MAX_LOCATION = 1000  # the column's length


class SourceError(InvalidInput):
    """A source cannot be added, found or removed; the message says why and what is expected."""

    def __init__(self, message: str, field: str = "location") -> None:
        super().__init__(message)
        self.field = field  # what the API names in its 422


class SourceNotFound(NotFound):
    def __init__(self, source_id: int) -> None:
        super().__init__(f"there is no source {source_id}")
        self.source_id = source_id


@dataclass(frozen=True)
class SourceInfo:
    id: int
    kind: str
    location: str
    title: str
    interval_minutes: int
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    article_count: int
    list_id: int = 1  # the newsletter its articles are composed into

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("last_polled_at", "last_ok_at"):
            value = data[name]
            data[name] = value.isoformat() if value is not None else None
        return data


def classify(location: str, *, allow_local: bool = False, allow_private: bool = False) -> tuple[SourceKind, str]:
    """(kind, stored location) for what the editor typed; SourceError says what is expected.

    Folders only with ``allow_local`` (the CLI, run by whoever runs the server): from the web, a
    path is refused before the disk is looked at, so the answer says nothing about what exists.
    A feed naming a private address (127.0.0.1, localhost) is refused unless ``allow_private``;
    names are resolved and checked again at every fetch.
    """
    location = location.strip()
    if not location:
        raise SourceError("give a feed URL (http:// or https://)" + (" or the path of a folder" if allow_local else ""))
    local_refused = SourceError(
        f"{location[:200]}: only http:// or https:// feed URLs can be added here; folders on the server"
        " are added from its command line (newsletter sources add PATH)"
    )
    if "://" in location or location.lower().startswith(("http:", "https:")):
        try:
            parts = urlsplit(location)
            host = parts.hostname
        except ValueError as exc:  # e.g. an unclosed [ of an IPv6 address
            raise SourceError(f"{location[:200]}: not a valid URL ({exc})") from exc
        if parts.scheme.lower() == "file" and not allow_local:
            raise local_refused
        if parts.scheme.lower() not in ("http", "https"):
            raise SourceError(f"{location}: a feed URL must start with http:// or https:// (got '{parts.scheme}:')")
        if not host:
            raise SourceError(f"{location}: the URL has no host name (expected http(s)://host/path)")
        if len(location) > MAX_LOCATION:
            raise SourceError(f"the URL is longer than {MAX_LOCATION} characters")
        try:
            AddressPolicy(allow_private=allow_private).check_name(host)
        except AddressRefused as exc:
            raise SourceError(f"{location}: {exc}") from exc
        return SourceKind.FEED, location
    if not allow_local:
        raise local_refused
    path = Path(location).expanduser()
    if not path.exists():
        raise SourceError(f"{location}: no such folder (expected an existing folder or an http(s) feed URL)")
    if not path.is_dir():
        raise SourceError(f"{location}: not a folder (give the folder that holds the article files)")
    # Stored absolute, so the scheduler finds it whatever directory it was started in.
    resolved = str(path.resolve())
    if len(resolved) > MAX_LOCATION:
        raise SourceError(f"the path is longer than {MAX_LOCATION} characters")
    return SourceKind.FOLDER, resolved


def add_source(
    sessions: sessionmaker[Session],
    location: str,
    *,
    interval_minutes: int = DEFAULT_INTERVAL_MINUTES,
    allow_local: bool = False,
    allow_private: bool = False,
    list_id: int = 1,
) -> SourceInfo:
    """Add a source, its articles composed into the list ``list_id`` (default: the first list); the same location twice is refused (SourceError naming the existing one).

    ``allow_local``: a folder may be added (the CLI only; the admin and the API take feeds only).
    ``allow_private``: Settings.sources_allow_private, a feed may name a private address.
    Nothing is fetched here.
    """
    if interval_minutes < 1:
        raise SourceError(f"the interval must be at least 1 minute (got {interval_minutes})", "interval_minutes")
    kind, stored = classify(location, allow_local=allow_local, allow_private=allow_private)
    title = Path(stored).name if kind is SourceKind.FOLDER else ""
    try:
        with transaction(sessions) as session:
            _refuse_duplicate(session, stored)
            row = Source(kind=kind, location=stored, title=title, interval_minutes=interval_minutes, list_id=list_id)
            session.add(row)
            session.flush()
            source_id = row.id
    except IntegrityError as exc:
        # Added by someone else between our look-up and our insert.
        with sessions() as session:
            _refuse_duplicate(session, stored)
        raise SourceError(f"{stored}: cannot be added: {exc.orig}") from exc
    return get_source(sessions, source_id)


def list_sources(sessions: sessionmaker[Session], limit: int | None = None, offset: int = 0) -> list[SourceInfo]:
    with sessions() as session:
        query = _with_counts().order_by(Source.id).limit(limit).offset(offset)
        return [_info(row, count) for row, count in session.execute(query)]


def count_sources(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count(Source.id))) or 0)


def get_source(sessions: sessionmaker[Session], source_id: int) -> SourceInfo:
    with sessions() as session:
        found = session.execute(_with_counts().where(Source.id == source_id)).one_or_none()
    if found is None:
        raise SourceNotFound(source_id)
    return _info(found[0], found[1])


def remove_source(sessions: sessionmaker[Session], source_id: int) -> SourceInfo:
    """Remove a source; its articles stay, no longer linked to it."""
    info = get_source(sessions, source_id)
    with transaction(sessions) as session:
        # Explicit rather than relying on ON DELETE SET NULL, which SQLite honours only with its pragma.
        session.execute(update(Article).where(Article.source_id == source_id).values(source_id=None))
        row = session.get(Source, source_id)
        if row is None:
            raise SourceNotFound(source_id)
        session.delete(row)
    return info


def _refuse_duplicate(session: Session, location: str) -> None:
    existing = session.scalars(select(Source).where(Source.location == location)).one_or_none()
    if existing is not None:
        raise SourceError(f"{location} is already source {existing.id}")


def _with_counts() -> Any:
    counts = (
        select(Article.source_id, func.count(Article.id).label("n"))
        .where(Article.source_id.is_not(None))
        .group_by(Article.source_id)
        .subquery()
    )
    return select(Source, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.source_id == Source.id)


def _info(row: Source, count: int) -> SourceInfo:
    return SourceInfo(
        id=row.id,
        kind=row.kind.value,
        location=row.location,
        title=row.title,
        interval_minutes=row.interval_minutes,
        last_polled_at=row.last_polled_at,
        last_ok_at=row.last_ok_at,
        last_error=row.last_error,
        article_count=int(count),
        list_id=row.list_id,
    )
