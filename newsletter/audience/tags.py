"""Tags on readers: created when first used, kept lower case (``values.normalise_tag``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from newsletter.db.sql import insert_for
from newsletter.audience.models import SubscriberTag, Tag
from newsletter.audience.values import normalise_tag


def tag_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    """name -> id for these (normalised) names, creating the tags that do not exist yet."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    # ON CONFLICT DO NOTHING: two imports naming a new tag at once both end up with its id.
    session.execute(insert_for(session)(Tag).values([{"name": n} for n in wanted]).on_conflict_do_nothing(
        index_elements=["name"]))
    return dict(session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(wanted))).all())


def add_tags(session: Session, pairs: Sequence[tuple[int, str]]) -> int:
    """Tag readers: (subscriber id, normalised tag) pairs; a tag a reader has already is kept once.
    Returns how many tags were newly put on readers."""
    if not pairs:
        return 0
    ids = tag_ids(session, (name for _, name in pairs))
    rows = list(dict.fromkeys((s, ids[name]) for s, name in pairs))
    result = session.execute(insert_for(session)(SubscriberTag).values(
        [{"subscriber_id": s, "tag_id": t} for s, t in rows]).on_conflict_do_nothing())
    return max(getattr(result, "rowcount", 0) or 0, 0)


def tag(session: Session, subscriber_id: int, raw: Iterable[str]) -> list[str]:
    """Put these tags on one reader; returns the reader's tags after."""
    add_tags(session, [(subscriber_id, normalise_tag(r)) for r in raw])
    return tags_of(session, [subscriber_id])[subscriber_id]


def untag(session: Session, subscriber_id: int, raw: Iterable[str]) -> list[str]:
    """Take these tags off one reader (a tag they do not have is ignored); returns their tags after."""
    names = [normalise_tag(r) for r in raw]
    session.execute(delete(SubscriberTag).where(
        SubscriberTag.subscriber_id == subscriber_id,
        SubscriberTag.tag_id.in_(select(Tag.id).where(Tag.name.in_(names)))))
    return tags_of(session, [subscriber_id])[subscriber_id]


def set_tags(session: Session, subscriber_id: int, raw: Iterable[str]) -> list[str]:
    """Make the reader's tags exactly these (the admin's and the API's edit)."""
    names = list(dict.fromkeys(normalise_tag(r) for r in raw))
    session.execute(delete(SubscriberTag).where(
        SubscriberTag.subscriber_id == subscriber_id,
        SubscriberTag.tag_id.not_in(select(Tag.id).where(Tag.name.in_(names)))))
    add_tags(session, [(subscriber_id, n) for n in names])
    return tags_of(session, [subscriber_id])[subscriber_id]


def tags_of(session: Session, subscriber_ids: Sequence[int]) -> dict[int, list[str]]:
    """subscriber id -> their tags, sorted."""
    out: dict[int, list[str]] = {i: [] for i in subscriber_ids}
    if subscriber_ids:
        rows = session.execute(select(SubscriberTag.subscriber_id, Tag.name)
                               .join(Tag, Tag.id == SubscriberTag.tag_id)
                               .where(SubscriberTag.subscriber_id.in_(list(subscriber_ids))).order_by(Tag.name))
        for subscriber_id, name in rows:
            out[subscriber_id].append(name)
    return out


def all_tags(session: Session) -> list[tuple[str, int]]:
    """Every tag with how many readers carry it, by name."""
    counts = (select(Tag.name, func.count(SubscriberTag.subscriber_id))
              .outerjoin(SubscriberTag, SubscriberTag.tag_id == Tag.id).group_by(Tag.name).order_by(Tag.name))
    return [(name, n) for name, n in session.execute(counts)]
