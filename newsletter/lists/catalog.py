"""The lists themselves: create, find by slug, list; and the name and From each list's email uses.

The first list (``FIRST_LIST_ID``) is what an installation had before there were several: its
name and From stay the list profile's (`issues.list_profile`), so a one-list installation behaves
as before. Another list has its own name and From address (the installation's address under the
list's name when it has none), and the design fields it set itself (`lists.design`) over the
first list's design.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from email.utils import formataddr, parseaddr

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.issues.list_profile import ListProfile, load_profile
from newsletter.lists.errors import InvalidList, SlugTaken, UnknownList
from newsletter.lists.models import FIRST_LIST_ID, MailingList, Subscription, SubscriptionStatus
from newsletter.readers.addresses import InvalidAddress, clean_name, normalise_email

# The profile fields a list other than the first sets for itself (the design page's, and its template).
LIST_DESIGN_FIELDS = ("logo_url", "accent_color", "font_family", "footer_text", "custom_template")
SLUG_RE = re.compile(r"[a-z0-9-]{1,60}")
MAX_NAME = 100


@dataclass(frozen=True)
class ListInfo:
    id: int
    name: str
    slug: str
    from_address: str | None  # None: the installation's From
    created_at: datetime
    subscribers: int = 0  # active subscriptions (standing aside)
    # The design fields the list sets itself (lists.design); not part of as_dict's contract.
    design: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def first(self) -> bool:
        return self.id == FIRST_LIST_ID

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "slug": self.slug, "from_address": self.from_address,
                "created_at": self.created_at.isoformat(), "subscribers": self.subscribers, "first": self.first}


def slug_from(name: str) -> str:
    """``The Weekly Briefing`` -> ``the-weekly-briefing``; ``main`` when nothing is left."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60].strip("-") or "main"


def _info(row: MailingList, subscribers: int = 0) -> ListInfo:
    return ListInfo(row.id, row.name, row.slug, row.from_address, row.created_at, subscribers, dict(row.design or {}))


def _clean_name(name: str) -> str:
    if any(ch in name for ch in "\r\n\x00"):
        raise InvalidList("name", "must be one line")
    text = " ".join(name.split())
    if not text:
        raise InvalidList("name", "give the list a name")
    if len(text) > MAX_NAME:
        raise InvalidList("name", f"must be at most {MAX_NAME} characters (got {len(text)})")
    return text


def _clean_slug(slug: str) -> str:
    if not SLUG_RE.fullmatch(slug):
        raise InvalidList("slug", "must be 1-60 characters of lowercase letters, digits and hyphens")
    return slug


def _clean_from(value: str) -> str:
    name, addr = parseaddr(value)
    if any(ch in value for ch in "\r\n\x00") or "@" not in addr or len(value) > 320:
        raise InvalidList("from", "must be an address such as 'The Weekly Briefing <briefing@example.org>'")
    try:
        address = normalise_email(addr)
    except InvalidAddress as exc:
        raise InvalidList("from", str(exc)) from exc
    return formataddr((clean_name(name), address)) if name.strip() else address


def create_list(sessions: sessionmaker[Session], name: str, slug: str | None = None,
                from_address: str | None = None) -> ListInfo:
    """A new list; every input is checked before anything is written (InvalidList, SlugTaken)."""
    clean = _clean_name(name)
    chosen = _clean_slug(slug) if slug is not None else slug_from(clean)
    sender = _clean_from(from_address) if from_address else None
    try:
        with sessions.begin() as session:
            if session.scalar(select(MailingList.id).where(MailingList.slug == chosen)) is not None:
                raise SlugTaken(chosen)
            row = MailingList(name=clean, slug=chosen, from_address=sender)
            session.add(row)
            session.flush()
            return _info(row)
    except IntegrityError as exc:  # created at the same moment by someone else
        raise SlugTaken(chosen) from exc


def all_lists(sessions: sessionmaker[Session]) -> list[ListInfo]:
    """Every list, first list first, with its count of active subscriptions."""
    counts = (select(Subscription.list_id, func.count().label("n"))
              .where(Subscription.status == SubscriptionStatus.ACTIVE).group_by(Subscription.list_id).subquery())
    with sessions() as session:
        rows = session.execute(select(MailingList, func.coalesce(counts.c.n, 0))
                               .outerjoin(counts, counts.c.list_id == MailingList.id).order_by(MailingList.id))
        return [_info(row, int(n)) for row, n in rows]


def find_list(session: Session, slug: str | None) -> MailingList:
    """The list with this slug (UnknownList), or the first list when ``slug`` is None."""
    if slug is None:
        row = session.get(MailingList, FIRST_LIST_ID)
        if row is None:
            raise UnknownList(str(FIRST_LIST_ID))
        return row
    row = session.scalar(select(MailingList).where(MailingList.slug == slug))
    if row is None:
        raise UnknownList(slug)
    return row


def list_by_slug(sessions: sessionmaker[Session], slug: str | None) -> ListInfo:
    """``find_list`` in its own session: what the CLI and the pages resolve ``--list`` and ``<slug>`` with."""
    with sessions() as session:
        return _info(find_list(session, slug))


def list_by_id(sessions: sessionmaker[Session], list_id: int) -> ListInfo:
    with sessions() as session:
        row = session.get(MailingList, list_id)
        if row is None:
            raise UnknownList(str(list_id))
        return _info(row)


def list_profile(profile: ListProfile, settings: Settings, mailing_list: ListInfo) -> ListProfile:
    """The profile an issue of this list is rendered and sent with: the first list's is the list
    profile itself; another list has its own name and From, and its own design fields over the
    first list's (sending limits and the rest are shared)."""
    if mailing_list.first:
        return profile
    # A bare address given for the list is shown under the list's name, as readers expect.
    name, address = parseaddr(mailing_list.from_address or profile.from_address)
    sender = mailing_list.from_address if mailing_list.from_address and name else formataddr((mailing_list.name, address))
    # Only the design's own keys: the stored JSON also keeps the list's template draft.
    own = {key: mailing_list.design[key] for key in LIST_DESIGN_FIELDS if key in mailing_list.design}
    return replace(profile, list_name=mailing_list.name, from_address=sender, **own)


def profile_for(sessions: sessionmaker[Session], settings: Settings, list_id: int) -> ListProfile:
    """``list_profile`` for a list id (the first list's: one read, as before)."""
    profile = load_profile(sessions, settings)
    if list_id == FIRST_LIST_ID:
        return profile
    return list_profile(profile, settings, list_by_id(sessions, list_id))
