"""Each list's design (logo, accent colour, font, footer, the editor's issue template).

The first list's design is the list profile's (`issues.list_profile`), as before there were
several lists. Another list stores only the fields its editor changed (``mailing_list.design``);
the others follow the first list's, so a new list looks like the first until it is changed.
``lists.catalog.list_profile`` applies them: the one place an issue's profile is made.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.issues import list_profile as first_list
from newsletter.issues.list_profile import InvalidProfile, ListProfile, validate_changes
from newsletter.issues.models import Issue, IssueStatus
from newsletter.lists.catalog import LIST_DESIGN_FIELDS, profile_for
from newsletter.lists.errors import UnknownList
from newsletter.lists.models import FIRST_LIST_ID, MailingList

# Kept in the same JSON, never applied to a profile (catalog.list_profile takes the design keys only).
TEMPLATE_DRAFT = "template_draft"


def _row(session: Session, list_id: int) -> MailingList:
    row = session.get(MailingList, list_id)
    if row is None:
        raise UnknownList(str(list_id))
    return row


def _forget_unsent_renders(session: Session, list_id: int) -> None:
    """This list's drafts and scheduled issues are rendered again with the new design; issues
    being sent or sent keep the HTML their readers got, and other lists' issues are untouched."""
    session.execute(
        update(Issue)
        .where(Issue.list_id == list_id, Issue.status.in_([IssueStatus.DRAFT, IssueStatus.SCHEDULED]))
        .values(html=None, text=None, web_html=None, rendered_at=None)
    )


def save_design(sessions: sessionmaker[Session], settings: Settings, list_id: int, **changes: Any) -> ListProfile:
    """Validate and store design fields of one list; nothing is stored if any is invalid
    (InvalidProfile with every error). Returns the profile the list's issues now render with.

    ``None`` is the default: for the first list the built-in one, for another list the first
    list's value, except ``custom_template=None``, which is the shipped template (the reset)."""
    unknown = changes.keys() - set(LIST_DESIGN_FIELDS)
    if unknown:
        raise TypeError(f"not a design field: {', '.join(sorted(unknown))}")
    if list_id == FIRST_LIST_ID:
        first_list.save_profile(sessions, settings, **changes)
        return profile_for(sessions, settings, list_id)
    clean, errors = validate_changes(changes)
    if errors:
        field = next(iter(errors))
        raise InvalidProfile(field, errors[field], errors)
    with sessions.begin() as session:
        row = _row(session, list_id)
        design = dict(row.design or {})
        for name, value in clean.items():
            if value is None and name != "custom_template":
                design.pop(name, None)
            else:
                design[name] = value
        row.design = design  # a new dict: the JSON column sees the change
        _forget_unsent_renders(session, list_id)
    return profile_for(sessions, settings, list_id)


def follow_first_list(sessions: sessionmaker[Session], settings: Settings, list_id: int) -> ListProfile:
    """Drop a list's own design (its template draft too): its issues look like the first list's again."""
    if list_id == FIRST_LIST_ID:
        raise InvalidProfile("list", "the first list's design is the one the others follow")
    with sessions.begin() as session:
        row = _row(session, list_id)
        row.design = None
        _forget_unsent_renders(session, list_id)
    return profile_for(sessions, settings, list_id)


def own_fields(sessions: sessionmaker[Session], list_id: int) -> frozenset[str]:
    """The design fields this list sets itself (the page says which follow the first list)."""
    if list_id == FIRST_LIST_ID:
        return frozenset(LIST_DESIGN_FIELDS)
    with sessions() as session:
        design = _row(session, list_id).design or {}
    return frozenset(key for key in LIST_DESIGN_FIELDS if key in design)


# -- a custom template's draft: uploaded and checked, previewed before the list uses it


def template_draft(sessions: sessionmaker[Session], list_id: int) -> str | None:
    if list_id == FIRST_LIST_ID:
        return first_list.load_template_draft(sessions)
    with sessions() as session:
        draft = (_row(session, list_id).design or {}).get(TEMPLATE_DRAFT)
    return draft if isinstance(draft, str) else None


def keep_template_draft(sessions: sessionmaker[Session], list_id: int, source: str | None) -> None:
    if list_id == FIRST_LIST_ID:
        first_list.store_template_draft(sessions, source)
        return
    with sessions.begin() as session:
        row = _row(session, list_id)
        design = {k: v for k, v in (row.design or {}).items() if k != TEMPLATE_DRAFT}
        if source is not None:
            design[TEMPLATE_DRAFT] = source
        row.design = design or None
