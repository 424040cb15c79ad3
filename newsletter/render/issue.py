"""Render an issue once: Jinja templates to MJML to responsive HTML, plus a plain-text part.

The output keeps slot markers (see ``newsletter.render.markers``) where per-reader values go, so the
expensive work (Jinja, MJML) happens once per issue and never per reader.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import markdown
import nh3

from markupsafe import Markup

from newsletter.render import plaintext
from newsletter.render.rendered import RenderedIssue  # noqa: F401  (where the renderer's callers import it from)
from newsletter.config import Settings
from newsletter.issues.list_profile import ListProfile, effective_settings
from newsletter.content import blocks
from newsletter.content.articles import article_blocks
from newsletter.content.models import Article
from newsletter.render import blocks_html
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
from newsletter.render.logo import shown_logo
from newsletter.db.base import utcnow
from newsletter.media.store import Media, media_of
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


def view_blocks(body: list[blocks.Block], accent: str = DesignView.accent_color) -> tuple[Block, ...]:
    """The article's blocks as the templates see them: words, the e-mail's HTML and the text part's lines."""
    return tuple(
        # The HTML is made and cleaned in one place (render.blocks_html): markup the templates keep as it is.
        Block(block.kind, blocks.block_text(block), Markup(blocks_html.block_html(block, accent)),
              plaintext.block_text(block))
        for block in body
    )


def _published(when: datetime | None) -> str:
    return f"{when.day} {when:%B %Y}" if when else ""


def article_view(article: Article, accent: str = DesignView.accent_color) -> ArticleView:
    return ArticleView(
        title=article.title or "",
        author=article.author or "",
        published=_published(article.published_at),
        standfirst=article.standfirst or "",
        blocks=view_blocks(article_blocks(article), accent),
        image_url=article.image_url or "",
        image_alt=article.title or "",
        image_credit=_CREDIT_PREFIX.sub("", article.image_credit or ""),
        author_bio=article.author_bio or "",
        url=article.url or "",
    )


def with_feature(view: ArticleView, media: Media, accent: str) -> ArticleView:
    """The feature image as a body image is drawn, sized from the stored file when it is ours."""
    if not view.image_url:
        return view
    size = media.size_of(view.image_url)
    image = blocks.Image(src=view.image_url, alt=view.image_alt, credit=view.image_credit,
                         width=size[0] if size else None, height=size[1] if size else None)
    return dataclasses.replace(view, image_html=Markup(blocks_html.block_html(image, accent)))


def dark_accent(colour: str) -> str:
    """``#rrggbb`` mixed half with white: the accent as links and rules show it on a dark background."""
    channels = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{(c + 255) // 2:02x}" for c in channels)


def _sender_context(settings: Settings, profile: ListProfile | None = None, media: Media | None = None) -> dict[str, Any]:
    base = settings.base_url.rstrip("/")
    design = DesignView.of(profile)
    if design.logo_url:  # shown only when it can load (render.logo); else the list's name as text
        design = dataclasses.replace(design, logo_url=shown_logo(design.logo_url, media or media_of(settings)))
    return {
        "design": design,
        "dark_accent": dark_accent(design.accent_color),
        "list_name": settings.list_name,
        "base_url": base,
        "sender_name": settings.sender_name,
        "sender_email": settings.sender_email,
        # The list profile's (Settings page); the footer shows it when set.
        "postal_address": profile.postal_address if profile is not None else "",
    }


ARTICLE_MODES = ("full", "excerpt")
EXCERPT_PARAGRAPHS = 2  # an excerpt is the standfirst and the opening blocks up to this many paragraphs


def excerpt_view(view: ArticleView) -> ArticleView:
    """The article's opening: its blocks up to the second paragraph (the bio stays on the web)."""
    kept: list[Any] = []
    paragraphs = 0
    for block in view.blocks:
        kept.append(block)
        paragraphs += getattr(block, "kind", "") == "paragraph"
        if paragraphs >= EXCERPT_PARAGRAPHS:
            break
    return dataclasses.replace(view, blocks=tuple(kept), author_bio="")


def masthead_moment(issue: Issue, now: datetime) -> datetime:
    """The moment whose day the masthead shows: the day the issue went out once it has (a send
    re-renders it then, ``Publisher.queue``), else its planned send: the scheduled time, else ``now``."""
    return issue.sent_at or issue.scheduled_at or now


def issue_date(when: datetime, time_zone: str) -> str:
    """The masthead's date: ``when``'s day in the list's time zone, e.g. "5 December 2026"."""
    local = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(ZoneInfo(time_zone))
    return f"{local.day} {local:%B %Y}"


def render_issue(
    issue: Issue, settings: Settings, profile: ListProfile | None = None, *, template_source: str | None = None,
    dated: datetime | None = None, media: Media | None = None,
) -> RenderedIssue:
    """Render an issue's HTML and text once, with slot markers for the per-reader values.

    With a ``profile`` its list name, From address and design apply, and its custom template (or
    ``template_source``, a draft being checked) replaces the shipped HTML layout. The masthead
    shows ``dated``'s day (the send's, given by ``Publisher.queue``), else ``masthead_moment``'s
    on the clock; ``media`` is where the logo is looked for (default: the Settings' store).
    """
    if profile is not None:
        settings = effective_settings(settings, profile)
    custom = template_source if template_source is not None else (profile.custom_template if profile else None)
    html_template = ISSUE_HTML if custom is None else CUSTOM_HTML
    accent, media = DesignView.of(profile).accent_color, media or media_of(settings)
    articles = [with_feature(article_view(article, accent), media, accent) for article in issue.articles]
    excerpt = (issue.article_mode or "full") == "excerpt"
    context = {
        **_sender_context(settings, profile, media),
        "issue": IssueView(number=issue.number, subject=issue.subject, preheader=issue.preheader or ""),
        "issue_date": issue_date(dated or masthead_moment(issue, utcnow()), settings.time_zone),
        "editor_note": [p for p in (issue.editor_note or "").split("\n\n") if p.strip()],  # paragraphs
        # excerpt: each article cut to its opening, with a link to the whole of it on the web version
        "excerpt": excerpt,
        "articles": [excerpt_view(a) for a in articles] if excerpt else articles,
        "archive_url": f"{settings.base_url.rstrip('/')}/archive/{issue.number}",
        "slot": SlotView(),
    }
    html, text = _layout(settings, custom, context)
    web_html = _layout(settings, custom, {**context, "excerpt": False, "articles": articles})[0] if excerpt else None
    for name, body in ((html_template, html), (ISSUE_TEXT, text)):
        if UNSUBSCRIBE_SLOT not in body:  # every issue must let the reader leave
            raise TemplateError(f"{name}: the unsubscribe link ({{{{ slot.unsubscribe_url }}}}) is missing")
    return RenderedIssue(
        subject=clean_text(issue.subject), preheader=clean_text(issue.preheader or ""), html=html, text=text,
        web_html=web_html,
    )


def _layout(settings: Settings, custom: str | None, context: dict[str, Any]) -> tuple[str, str]:
    if custom is None:  # the shipped layout: trusted, rendered here
        return render_layout(settings.templates_dir, None, context)
    # the editor's: in a child process with CPU, memory, output and depth limits
    caged = render_caged(settings.templates_dir, custom, context)
    return caged.html, caged.text


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
