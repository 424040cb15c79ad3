"""The editor's own issue layout (MJML + Jinja2): checked when uploaded, previewed, then used.

A template is refused at upload with the line at fault (Jinja syntax and render errors, MJML
tags that are unknown, unclosed or closed in the wrong order, nested too deep, the MJML parser's
errors), when it lacks the unsubscribe link, and when it goes past a limit of the cage it renders
in (``render.cage``: CPU, memory, output), so a custom template in use never breaks a send.
Previews render the list's latest issue (a sample one when there is none) without storing
anything. Each list has its own template and draft (`lists.design`); the first list's is the list
profile's.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import InvalidInput
from newsletter.config import Settings
from newsletter.issues.list_profile import MAX_LENGTHS, ListProfile
from newsletter.lists.catalog import profile_for
from newsletter.lists.design import keep_template_draft, save_design
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.content.models import Article
from newsletter.issues.models import Issue, IssueArticle
from newsletter.render.issue import CUSTOM_HTML, RenderedIssue, TemplateError, fill_html, render_issue

REQUIRED_HELP = (
    "it has no unsubscribe link: put {{ slot.unsubscribe_url }} in a link's href "
    '(or {% include "email/_footer.mjml.j2" %}, which has it)'
)


class TemplateRejected(InvalidInput):
    """A custom template that cannot be used; the message starts with "line N: " when known."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(f"line {lineno}: {message}" if lineno else message)
        self.lineno = lineno


def _rejected(exc: TemplateError) -> TemplateRejected:
    text = str(exc)
    if exc.template == CUSTOM_HTML:
        prefix = f"{CUSTOM_HTML}, line {exc.lineno}: " if exc.lineno else f"{CUSTOM_HTML}: "
        return TemplateRejected(text.removeprefix(prefix), exc.lineno)
    if "unsubscribe link" in text and "missing" in text:
        return TemplateRejected(REQUIRED_HELP)
    return TemplateRejected(text.removeprefix(CUSTOM_HTML + ": "))


def check_template(source: str, issue: Issue, settings: Settings, profile: ListProfile) -> RenderedIssue:
    """Render ``issue`` with ``source`` as its layout, or raise TemplateRejected saying why not."""
    if not source.strip():
        raise TemplateRejected("the file is empty")
    if len(source) > MAX_LENGTHS["custom_template"]:
        raise TemplateRejected(f"the file is too long (at most {MAX_LENGTHS['custom_template']} characters)")
    if "\x00" in source:
        raise TemplateRejected("the file is not text")
    try:  # in the cage, which checks the source's tags and their depth first (render.mjml_checks)
        return render_issue(issue, settings, profile, template_source=source)
    except TemplateError as exc:
        raise _rejected(exc) from exc


# -- the issue a preview shows


def sample_issue() -> Issue:
    """A made-up issue for previews before the first real one (never stored)."""
    when = datetime(2026, 1, 2, 9, 0, tzinfo=timezone.utc)
    article = Article(
        uid="sample", title="A sample article", author="A. Writer", published_at=when,
        standfirst="What your readers see first: a line that sums the article up.",
        paragraphs=["This is how an article's paragraphs look in your issue.",
                    "A second paragraph, so you can judge the spacing between them."],
        pull_quotes=["A pull quote stands out in the accent colour."], image_url="", image_credit="",
        author_bio="", url="https://example.org/sample-article", source="", content_hash="sample",
    )
    issue = Issue(number=1, subject="A sample issue", preheader="How your issue looks", editor_note="")
    issue.items = [IssueArticle(position=0, article=article)]
    return issue


def _latest(session: Session, list_id: int) -> Issue:
    issue = session.scalar(select(Issue).where(Issue.list_id == list_id).order_by(Issue.number.desc()).limit(1))
    return issue or sample_issue()


def render_preview(
    sessions: sessionmaker[Session], settings: Settings, profile: ListProfile, template_source: str | None = None,
    list_id: int = FIRST_LIST_ID,
) -> str:
    """The list's latest issue (or a sample) as HTML with ``profile``'s design, filled for a browser.

    A custom template in use (or ``template_source``) that fails raises render.TemplateError.
    """
    with sessions() as session:
        rendered = render_issue(_latest(session, list_id), settings, profile, template_source=template_source)
    return fill_html(rendered.html, None, base_url=settings.base_url)


def check_upload(sessions: sessionmaker[Session], settings: Settings, source: str,
                 list_id: int = FIRST_LIST_ID) -> None:
    """Check an uploaded template against the list's latest issue and keep it as its draft to preview."""
    source = source.replace("\r\n", "\n")
    profile = profile_for(sessions, settings, list_id)
    with sessions() as session:
        check_template(source, _latest(session, list_id), settings, profile)
    keep_template_draft(sessions, list_id, source)


def use_draft(sessions: sessionmaker[Session], settings: Settings, draft: str,
              list_id: int = FIRST_LIST_ID) -> ListProfile:
    """Check the draft again (the latest issue may have changed) and make it the list's issue layout."""
    profile = profile_for(sessions, settings, list_id)
    with sessions() as session:
        check_template(draft, _latest(session, list_id), settings, profile)
    profile = save_design(sessions, settings, list_id, custom_template=draft)
    keep_template_draft(sessions, list_id, None)
    return profile


def reset_template(sessions: sessionmaker[Session], settings: Settings, list_id: int = FIRST_LIST_ID) -> ListProfile:
    """Back to the shipped layout."""
    profile = save_design(sessions, settings, list_id, custom_template=None)
    keep_template_draft(sessions, list_id, None)
    return profile
