"""What a worker reads of an issue to compile its message: the rendered body (under an A/B
subject when asked) and the list it belongs to (its name, From and unsubscribe links)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.abtests.models import AbVariant
from newsletter.delivery.types import IssueBody
from newsletter.issues.models import Issue
from newsletter.lists.models import FIRST_LIST_ID, MailingList


def issue_body(session: Session, issue_id: int, variant: int | None = None) -> IssueBody:
    """The issue as rendered; with ``variant``, under that A/B subject. LookupError when the
    issue has not been rendered."""
    issue = session.get(Issue, issue_id)
    if issue is None or issue.html is None or issue.text is None:
        raise LookupError(f"issue {issue_id} has not been rendered")
    subject = issue.subject
    if variant is not None:
        subject = session.scalar(select(AbVariant.subject).where(
            AbVariant.issue_id == issue_id, AbVariant.idx == variant)) or subject
    # The first list's links name no list (as before there were several).
    slug = None if issue.list_id == FIRST_LIST_ID else session.scalar(
        select(MailingList.slug).where(MailingList.id == issue.list_id))
    return IssueBody(issue.id, subject, issue.preheader, issue.html, issue.text, issue.tracking, slug)


def list_of(session: Session, issue_id: int) -> int:
    """The issue's list (the first list for an issue that is gone)."""
    return session.scalar(select(Issue.list_id).where(Issue.id == issue_id)) or FIRST_LIST_ID
