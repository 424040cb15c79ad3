"""Render an issue once: Jinja templates to MJML to responsive HTML, plus a plain-text part.

The output keeps slot markers (see ``newsletter.render.markers``) where per-reader values go, so the
expensive work (Jinja, MJML) happens once per issue and never per reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import markdown
import nh3

from markupsafe import Markup

from newsletter.render import plaintext
from newsletter.config import Settings
from newsletter.issues.list_profile import ListProfile, effective_settings
from newsletter.content.models import Article
from newsletter.issues.models import Issue
from newsletter.render.markers import (
    GREETING_SLOT,
    SLOTS,
    UNSUBSCRIBE_SLOT,
    clean_text,
    clean_url,
    fill_html,
    fill_text,
    greeting_line,
)
from newsletter.render.cage import render_caged
from newsletter.render.layout import (
    CUSTOM_HTML,
    ISSUE_HTML,
    ISSUE_TEXT,
    ArticleView,
    Block,
    DesignView,
    IssueView,
    SlotView,
    TemplateError,
    TemplateLimitExceeded,
    environment as _environment,
    render_layout,
    render_template as _render,
    to_html as _to_html,
)

__all__ = [
    "GREETING_SLOT",
    "UNSUBSCRIBE_SLOT",
    "SLOTS",
    "RenderedIssue",
    "TemplateError",
    "TemplateLimitExceeded",
    "fill_html",
    "fill_text",
    "render_confirmation",
    "render_issue",
    "render_welcome",
]

CONFIRM_HTML = "email/confirm.mjml.j2"
CONFIRM_TEXT = "email/confirm.txt.j2"
WELCOME_HTML = "email/welcome.mjml.j2"
WELCOME_TEXT = "email/welcome.txt.j2"

_CREDIT_PREFIX = re.compile(r"^\s*(?:image\s+|photo\s+)?(?:credit|photo)\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class RenderedIssue:
    """An issue rendered once; ``html`` and ``text`` still hold the slot markers."""

    subject: str
    preheader: str
    html: str
    text: str


def _interleave(paragraphs: list[str], quotes: list[str]) -> tuple[Block, ...]:
    """Spread pull quotes evenly between paragraphs (their original positions are not kept)."""
    paras = [p for p in paragraphs if p.strip()]
    pulls = [q for q in quotes if q.strip()]
    after: dict[int, list[str]] = {}
    for i, quote in enumerate(pulls):
        at = round((i + 1) * len(paras) / (len(pulls) + 1))
        after.setdefault(min(max(at, 1), len(paras)) if paras else 0, []).append(quote)
    blocks: list[Block] = [Block("quote", q) for q in after.get(0, [])]
    for n, para in enumerate(paras, start=1):
        blocks.append(Block("paragraph", para))
        blocks.extend(Block("quote", q) for q in after.get(n, []))
    return tuple(blocks)


def _published(when: datetime | None) -> str:
    return f"{when.day} {when:%B %Y}" if when else ""


def article_view(article: Article) -> ArticleView:
    return ArticleView(
        title=article.title or "",
        author=article.author or "",
        published=_published(article.published_at),
        standfirst=article.standfirst or "",
        blocks=_interleave(list(article.paragraphs or []), list(article.pull_quotes or [])),
        image_url=article.image_url or "",
        image_alt=article.title or "",
        image_credit=_CREDIT_PREFIX.sub("", article.image_credit or ""),
        author_bio=article.author_bio or "",
        url=article.url or "",
    )


def _sender_context(settings: Settings, profile: ListProfile | None = None) -> dict[str, Any]:
    base = settings.base_url.rstrip("/")
    return {
        "design": DesignView.of(profile),
        "list_name": settings.list_name,
        "base_url": base,
        "sender_name": settings.sender_name,
        "sender_email": settings.sender_email,
        # Optional: only shown if the deployment's Settings carries a postal address.
        "postal_address": str(getattr(settings, "postal_address", "") or ""),
    }


def render_issue(
    issue: Issue, settings: Settings, profile: ListProfile | None = None, *, template_source: str | None = None
) -> RenderedIssue:
    """Render an issue's HTML and text once, with slot markers for the per-reader values.

    With a ``profile`` its list name, From address and design apply, and its custom template (or
    ``template_source``, a draft being checked) replaces the shipped HTML layout.
    """
    if profile is not None:
        settings = effective_settings(settings, profile)
    custom = template_source if template_source is not None else (profile.custom_template if profile else None)
    html_template = ISSUE_HTML if custom is None else CUSTOM_HTML
    context = {
        **_sender_context(settings, profile),
        "issue": IssueView(number=issue.number, subject=issue.subject, preheader=issue.preheader or ""),
        "editor_note": [p for p in (issue.editor_note or "").split("\n\n") if p.strip()],  # paragraphs
        "articles": [article_view(article) for article in issue.articles],
        "archive_url": f"{settings.base_url.rstrip('/')}/archive/{issue.number}",
        "slot": SlotView(),
    }
    if custom is None:  # the shipped layout: trusted, rendered here
        html, text = render_layout(settings.templates_dir, None, context)
    else:  # the editor's: in a child process with CPU, memory, output and depth limits
        caged = render_caged(settings.templates_dir, custom, context)
        html, text = caged.html, caged.text
    for name, body in ((html_template, html), (ISSUE_TEXT, text)):
        if UNSUBSCRIBE_SLOT not in body:  # every issue must let the reader leave
            raise TemplateError(f"{name}: the unsubscribe link ({{{{ slot.unsubscribe_url }}}}) is missing")
    return RenderedIssue(
        subject=clean_text(issue.subject), preheader=clean_text(issue.preheader or ""), html=html, text=text
    )


def render_confirmation(
    settings: Settings, confirm_url: str, name: str, profile: ListProfile | None = None
) -> tuple[str, str, str]:
    """The double opt-in e-mail as (subject, text, html); the text has the URL on its own line."""
    if profile is not None:
        settings = effective_settings(settings, profile)
    env = _environment(settings.templates_dir)
    subject = clean_text(f"Confirm your subscription to {settings.list_name}")
    context = {
        **_sender_context(settings, profile),
        "subject": subject,
        "confirm_url": clean_url(confirm_url),
        "greeting": greeting_line(name),
    }
    html = _to_html(env, _render(env, settings.templates_dir, CONFIRM_HTML, context), CONFIRM_HTML)
    text = plaintext.tidy(_render(env, settings.templates_dir, CONFIRM_TEXT, context))
    return subject, text, html


def render_welcome(
    settings: Settings, profile: ListProfile, name: str, *, unsubscribe_url: str = "", preferences_url: str = ""
) -> tuple[str, str, str]:
    """The welcome e-mail (sent once a reader confirms) as (subject, text, html).

    The editor's Markdown body becomes sanitised HTML for the HTML part and stays as written,
    wrapped, in the text part.
    """
    settings = effective_settings(settings, profile)
    env = _environment(settings.templates_dir)
    subject = clean_text(profile.welcome_subject)
    body_html = nh3.clean(markdown.markdown(profile.welcome_body_markdown))
    context = {
        **_sender_context(settings, profile),
        "subject": subject,
        "greeting": greeting_line(name),
        "body_html": Markup(body_html),
        "body_text": [p.strip() for p in profile.welcome_body_markdown.split("\n\n") if p.strip()],
        "archive_url": f"{settings.base_url.rstrip('/')}/archive",
        "unsubscribe_url": clean_url(unsubscribe_url),  # the reader's own links (newsletter/welcome.py)
        "preferences_url": clean_url(preferences_url),
    }
    html = _to_html(env, _render(env, settings.templates_dir, WELCOME_HTML, context), WELCOME_HTML)
    text = plaintext.tidy(_render(env, settings.templates_dir, WELCOME_TEXT, context))
    return subject, text, html


def render_notice(settings: Settings, profile: ListProfile | None, template: str, **context: Any) -> str:
    """A plain-text notice to a reader (e.g. ``email/email_changed.txt.j2``, readers/preferences.py)
    with the list's sender lines; ``context`` values are the notice's own."""
    if profile is not None:
        settings = effective_settings(settings, profile)
    env = _environment(settings.templates_dir)
    return plaintext.tidy(_render(env, settings.templates_dir, template, {**_sender_context(settings, profile), **context}))
