"""Polling sources: a feed's entries or a folder's files into Article rows, the outcome on the Source.

A failing source never raises to ``poll_due``'s caller (the scheduler): the reason is kept in
``Source.last_error`` and the next poll retries.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db.engine import transaction
from newsletter.content.ingest import IngestError, article_files, article_uid, parse_file
from newsletter.content.ingest.load import LocaliseImages, has_images, localise_with_feature, store
from newsletter.content.models import Article, Source, SourceKind
from newsletter.db.base import utcnow
from newsletter.content.sources.feeds import MAX_ENTRIES, DEFAULT_TIMEOUT, Feed, FeedEntry, FeedError, entry_hash, parse_feed
from newsletter.content.sources.registry import SourceNotFound
from newsletter.content.sources.safe_fetch import AddressPolicy, fetch

if TYPE_CHECKING:
    from newsletter.services import Services

log = logging.getLogger(__name__)
Outcome = Literal["added", "updated", "unchanged"]
MAX_ERROR_ITEMS = 5  # reasons listed in last_error before "and N more"


@dataclass
class PollResult:
    source_id: int
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    error: str | None = None  # None when the poll worked in full; safe to show on the web
    location: str = ""
    detail: str | None = None  # the error with what only the operator should see (addresses, sockets)
    over_cap: int = 0  # older feed entries left out: at most MAX_ENTRIES per poll

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: {"added": 0, "updated": 0, "unchanged": 0})
    problems: list[str] = field(default_factory=list)


def poll_source(
    sessions: sessionmaker[Session],
    source_id: int,
    *,
    now: datetime | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    policy: AddressPolicy | None = None,
    images: LocaliseImages | None = None,
) -> PollResult:
    """Poll one source now, whatever its interval; SourceNotFound if there is no such source.

    A feed is fetched only from public addresses unless ``policy`` allows private ones; with
    ``images``, a new or changed entry's images are copied into the media store first.
    """
    now = now or utcnow()
    with sessions() as session:
        source = session.get(Source, source_id)
        if source is None:
            raise SourceNotFound(source_id)
        kind, location = source.kind, source.location
    tally = _Tally()
    feed_title = ""
    failure: str | None = None
    detail: str | None = None
    over_cap = 0
    try:
        if kind is SourceKind.FEED:
            feed = parse_feed(fetch(location, timeout=timeout, policy=policy), location)
            feed_title, over_cap = feed.title, feed.over_cap
            _store_feed(sessions, source_id, location, feed, now, tally, images)
        else:
            _poll_folder(sessions, source_id, Path(location), now, tally, images)
    except FeedError as exc:
        failure, detail = str(exc), exc.detail
    except IngestError as exc:
        failure = exc.reason
    error = failure if failure is not None else _summary(tally.problems, over_cap)
    _record(sessions, source_id, now, ok=failure is None, error=error, feed_title=feed_title)
    return PollResult(source_id, error=error, location=location, detail=detail or error, over_cap=over_cap,
                      **tally.counts)


def poll_sources(
    sessions: sessionmaker[Session],
    source_ids: list[int] | None = None,
    *,
    now: datetime | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    policy: AddressPolicy | None = None,
    images: LocaliseImages | None = None,
) -> list[PollResult]:
    """Poll the given sources (all when None), each on its own; one failing does not stop the rest.

    Never raises for a source, so the admin and the API run it after their response (a background task).
    """
    if source_ids is None:
        with sessions() as session:
            source_ids = list(session.scalars(select(Source.id).order_by(Source.id)))
    return [_poll_guarded(sessions, source_id, now or utcnow(), timeout, policy, images) for source_id in source_ids]


def due_source_ids(sessions: sessionmaker[Session], now: datetime) -> list[int]:
    """Sources never polled, or last polled at least their interval ago."""
    with sessions() as session:
        rows = session.execute(select(Source.id, Source.last_polled_at, Source.interval_minutes).order_by(Source.id))
        return [
            source_id
            for source_id, polled, minutes in rows
            if polled is None or polled + timedelta(minutes=minutes) <= now
        ]


def poll_due(services: Services, now: datetime | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> list[PollResult]:
    """Poll every source that is due (the scheduler calls this every minute); never raises for a source."""
    from newsletter.media.fetch import ingest_localiser

    now = now or utcnow()
    policy = AddressPolicy(allow_private=services.settings.sources_allow_private)
    return poll_sources(services.sessions, due_source_ids(services.sessions, now), now=now, timeout=timeout,
                        policy=policy, images=ingest_localiser(services.media, services.settings))


def feed_uid(source_id: int, key: str) -> str:
    """An entry's Article.uid: stable across polls even when the feed changes its link or date."""
    return hashlib.sha256(json.dumps([source_id, key], ensure_ascii=False).encode("utf-8")).hexdigest()


def _poll_guarded(
    sessions: sessionmaker[Session], source_id: int, now: datetime, timeout: float, policy: AddressPolicy | None,
    images: LocaliseImages | None,
) -> PollResult:
    try:
        return poll_source(sessions, source_id, now=now, timeout=timeout, policy=policy, images=images)
    except SourceNotFound:
        return PollResult(source_id, error="removed while polling")
    except Exception as exc:  # one broken source must not stop the others, nor the scheduler
        log.exception("polling source %s failed", source_id)
        return PollResult(source_id, error=f"unexpected error: {exc}")


def _store_feed(
    sessions: sessionmaker[Session], source_id: int, location: str, feed: Feed, now: datetime, tally: _Tally,
    images: LocaliseImages | None = None,
) -> None:
    tally.problems.extend(feed.skipped)
    # Each entry's hash is of the entry as the feed gives it, so an unchanged entry stays
    # "unchanged" (and fetches nothing) although its stored body points at our image copies.
    entries = [(entry, entry_hash(entry)) for entry in _unique(feed.entries)]
    if images is not None:
        entries = _with_local_images(sessions, source_id, entries, images, tally)
    for attempt in range(2):
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        try:
            with transaction(sessions) as session:
                for entry, digest in entries:
                    counts[_upsert_entry(session, source_id, location, entry, now, digest)] += 1
        except IntegrityError:
            # A concurrent poll of the same feed inserted an entry first: the second pass sees it.
            if attempt:
                raise
            continue
        for name, n in counts.items():
            tally.counts[name] += n
        return


def _unique(entries: list[FeedEntry]) -> list[FeedEntry]:
    # A feed listing one guid twice would insert the same uid twice in one transaction: first wins.
    seen: set[str] = set()
    kept = []
    for entry in entries:
        if entry.key not in seen:
            seen.add(entry.key)
            kept.append(entry)
    return kept


def _with_local_images(
    sessions: sessionmaker[Session], source_id: int, entries: list[tuple[FeedEntry, str]],
    images: LocaliseImages, tally: _Tally,
) -> list[tuple[FeedEntry, str]]:
    """New or changed entries with images get our copies, fetched outside the write transaction."""
    with sessions() as session:
        rows = session.execute(select(Article.uid, Article.content_hash).where(
            Article.uid.in_([feed_uid(source_id, entry.key) for entry, _ in entries])))
        stored = {uid: digest for uid, digest in rows}
    out = []
    for entry, digest in entries:
        if stored.get(feed_uid(source_id, entry.key)) != digest and has_images(entry.body, entry.image_url):
            body, image_url, notes = localise_with_feature(images, entry.body, entry.image_url)
            entry = replace(entry, body=body, image_url=image_url)
            tally.problems.extend(f"{entry.title}: {note}" for note in notes)
        out.append((entry, digest))
    return out


def _upsert_entry(
    session: Session, source_id: int, location: str, entry: FeedEntry, now: datetime, digest: str
) -> Outcome:
    uid = feed_uid(source_id, entry.key)
    row = session.scalars(select(Article).where(Article.uid == uid)).one_or_none()
    if row is not None and row.content_hash == digest:
        return "unchanged"
    values = {
        "title": entry.title,
        "author": entry.author,
        "standfirst": entry.standfirst,
        "paragraphs": entry.paragraphs,
        "body": entry.body,
        "image_url": entry.image_url,
        "url": entry.url,
        "content_hash": digest,
    }
    if row is None:
        session.add(
            Article(
                uid=uid,
                published_at=entry.published_at or now,
                pull_quotes=[],
                source=location,
                source_id=source_id,
                **values,
            )
        )
        return "added"
    # published_at stays as first seen: an issue already composed keeps its week.
    for name, value in values.items():
        setattr(row, name, value)
    row.source_id = source_id
    return "updated"


def _poll_folder(
    sessions: sessionmaker[Session], source_id: int, folder: Path, now: datetime, tally: _Tally,
    images: LocaliseImages | None = None,
) -> None:
    """ingest_path's loop, file by file, so each article it stores can be linked to the source."""
    if not folder.is_dir():
        raise IngestError(folder, "the folder is gone (or is no longer a folder)")
    for name, file in article_files(folder):
        warnings: list[str] = []
        try:
            article = parse_file(file)
            outcome = store(sessions, article, now=now, images=images, warnings=warnings)
        except IngestError as exc:
            tally.problems.append(f"{name}: {exc.reason}")
            continue
        tally.problems.extend(warnings)  # an image not copied: the article is stored, the poll says why
        tally.counts[outcome] += 1
        uid = article_uid(article.author, article.title)
        with transaction(sessions) as session:
            row = session.scalars(select(Article).where(Article.uid == uid)).one_or_none()
            # Unchanged articles ingested before the folder was a source are claimed too, once.
            if row is not None and (outcome != "unchanged" or row.source_id is None):
                row.source_id = source_id


def _record(
    sessions: sessionmaker[Session], source_id: int, now: datetime, *, ok: bool, error: str | None, feed_title: str
) -> None:
    with transaction(sessions) as session:
        source = session.get(Source, source_id)
        if source is None:  # removed while we were polling it: nothing to record
            return
        source.last_polled_at = now
        source.last_error = error
        if ok:
            source.last_ok_at = now
        if feed_title and not source.title:
            source.title = feed_title


def _summary(problems: list[str], over_cap: int = 0) -> str | None:
    parts = [f"{over_cap} older entries skipped (at most {MAX_ENTRIES} are taken per poll)"] if over_cap else []
    if problems:
        shown = "; ".join(problems[:MAX_ERROR_ITEMS])
        more = len(problems) - MAX_ERROR_ITEMS
        head = f"{len(problems)} item{'s' if len(problems) != 1 else ''} skipped: "
        parts.append(head + shown + (f"; and {more} more" if more > 0 else ""))
    return "; ".join(parts) or None
