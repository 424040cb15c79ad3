"""Render an issue once: Jinja templates to MJML to responsive HTML, plus a plain-text part.

The output keeps slot markers (see ``newsletter.render.markers``) where per-reader values go, so the
expensive work (Jinja, MJML) happens once per issue and never per reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import jinja2
import jinja2.sandbox
import markdown
import mjml
import nh3

from markupsafe import Markup

from newsletter.errors import Conflict
from newsletter.render import plaintext
from newsletter.config import Settings
from newsletter.issues.list_profile import ListProfile, effective_settings
from newsletter.content.models import Article
from newsletter.issues.models import Issue
from newsletter.render.markers import (
    GREETING_SLOT,
    SLOTS,
    UNSUBSCRIBE_SLOT,
    SlotMarker,
    clean_text,
    clean_url,
    fill_html,
    fill_text,
    greeting_line,
    scrub_markers,
)

__all__ = [
    "GREETING_SLOT",
    "UNSUBSCRIBE_SLOT",
    "SLOTS",
    "RenderedIssue",
    "TemplateError",
    "fill_html",
    "fill_text",
    "render_confirmation",
    "render_issue",
    "render_welcome",
]

ISSUE_HTML = "email/issue.mjml.j2"
ISSUE_TEXT = "email/issue.txt.j2"
CONFIRM_HTML = "email/confirm.mjml.j2"
CONFIRM_TEXT = "email/confirm.txt.j2"
WELCOME_HTML = "email/welcome.mjml.j2"
WELCOME_TEXT = "email/welcome.txt.j2"
# The editor's uploaded issue layout is loaded under this name (it may include the shipped parts).
CUSTOM_HTML = "email/custom-issue.mjml.j2"

_CREDIT_PREFIX = re.compile(r"^\s*(?:image\s+|photo\s+)?(?:credit|photo)\s*:\s*", re.IGNORECASE)
_LEFTOVER_MJ_TAG = re.compile(r"<(mj-[a-z0-9-]+)")


@dataclass(frozen=True)
class RenderedIssue:
    """An issue rendered once; ``html`` and ``text`` still hold the slot markers."""

    subject: str
    preheader: str
    html: str
    text: str


class TemplateError(Conflict):
    """A template could not be rendered; the message names the template file and line."""

    def __init__(self, message: str, *, template: str | None = None, lineno: int | None = None) -> None:
        super().__init__(message)
        self.template = template
        self.lineno = lineno


@dataclass(frozen=True)
class Block:
    kind: Literal["paragraph", "quote"]
    text: str


@dataclass(frozen=True)
class ArticleView:
    """What the templates see of an article: display-ready strings, no ORM access."""

    title: str
    author: str
    published: str
    standfirst: str
    blocks: tuple[Block, ...]
    image_url: str
    image_alt: str
    image_credit: str
    author_bio: str
    url: str


@dataclass(frozen=True)
class IssueView:
    number: int
    subject: str
    preheader: str


@dataclass(frozen=True)
class DesignView:
    """The list's design as the templates see it (validated when the editor saved it)."""

    logo_url: str = ""
    accent_color: str = "#0b57d0"
    font_family: str = "-apple-system, BlinkMacSystemFont, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
    footer_lines: tuple[str, ...] = ()

    @classmethod
    def of(cls, profile: ListProfile | None) -> DesignView:
        if profile is None:
            return cls()
        lines = tuple(line.strip() for line in profile.footer_text.splitlines() if line.strip())
        return cls(profile.logo_url, profile.accent_color, profile.font_family, lines)


@dataclass(frozen=True)
class SlotView:
    greeting: SlotMarker = SlotMarker(GREETING_SLOT)
    unsubscribe_url: SlotMarker = SlotMarker(UNSUBSCRIBE_SLOT)


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


def _finalize(value: Any) -> Any:
    # Every {{ }} output passes here: only the renderer's own markers may carry slot text.
    if isinstance(value, SlotMarker):
        return value
    if isinstance(value, str):
        return scrub_markers(value)
    return "" if value is None else value


class _OneTemplateLoader(jinja2.BaseLoader):
    """The editor's template under its name, which is also its filename, so errors name it."""

    def __init__(self, name: str, source: str) -> None:
        self._name, self._source = name, source

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        if template != self._name:
            raise jinja2.TemplateNotFound(template)
        return self._source, template, lambda: True

    def list_templates(self) -> list[str]:
        return [self._name]


def _environment(templates_dir: Path, custom: str | None = None) -> jinja2.Environment:
    loader: jinja2.BaseLoader = jinja2.FileSystemLoader(templates_dir)
    environment = jinja2.Environment
    if custom is not None:
        # The editor's template: sandboxed (no attribute tricks reach Python), and able to
        # include the shipped parts (email/_head.mjml.j2 ...) beside it.
        loader = jinja2.ChoiceLoader([_OneTemplateLoader(CUSTOM_HTML, custom), loader])
        environment = jinja2.sandbox.SandboxedEnvironment
    env = environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(enabled_extensions=("mjml.j2", "html.j2"), default=False),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = plaintext.wrap
    env.filters["underline"] = plaintext.underline
    env.filters["blockquote"] = plaintext.blockquote
    return env


def _relative(filename: str | None, templates_dir: Path) -> str | None:
    if not filename:
        return None
    try:
        return Path(filename).resolve().relative_to(templates_dir.resolve()).as_posix()
    except ValueError:
        return filename


def _template_frame(exc: BaseException, templates_dir: Path) -> tuple[str | None, int | None]:
    """The innermost template line in a traceback (Jinja rewrites frames to template lines)."""
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (_relative(tb.tb_frame.f_code.co_filename, templates_dir), tb.tb_lineno)
        tb = tb.tb_next
    return found


def _location(template: str | None, lineno: int | None) -> str:
    return f"{template or '<unknown template>'}, line {lineno}" if lineno else template or "<unknown template>"


def _render(env: jinja2.Environment, templates_dir: Path, name: str, context: dict[str, Any]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        where = exc.name or _relative(exc.filename, templates_dir) or name
        raise TemplateError(
            f"{_location(where, exc.lineno)}: {exc.message}", template=where, lineno=exc.lineno
        ) from exc
    except jinja2.TemplateNotFound as exc:
        template, lineno = _template_frame(exc, templates_dir)
        if template is None:
            template = name
        raise TemplateError(
            f"{_location(template, lineno)}: template not found: {exc.name}", template=template, lineno=lineno
        ) from exc
    except Exception as exc:  # undefined variables, filter errors: all name a template line
        template, lineno = _template_frame(exc, templates_dir)
        template = template or name
        raise TemplateError(
            f"{_location(template, lineno)}: {type(exc).__name__}: {exc}", template=template, lineno=lineno
        ) from exc


def _find_tag(env: jinja2.Environment, tag: str) -> tuple[str | None, int | None]:
    """Where an MJML tag first appears in the e-mail templates (mjml gives no position)."""
    pattern = re.compile(f"<{re.escape(tag)}(?![a-z0-9-])")
    loader = env.loader
    assert loader is not None
    for name in sorted(loader.list_templates()):
        if not name.startswith("email/"):
            continue
        source = loader.get_source(env, name)[0]
        for number, line in enumerate(source.splitlines(), start=1):
            if pattern.search(line):
                return name, number
    return None, None


def _to_html(env: jinja2.Environment, source: str, template: str) -> str:
    try:
        html = mjml.mjml2html(source)
    except ValueError as exc:
        raise TemplateError(f"{template}: MJML error: {exc}", template=template) from exc
    leftover = _LEFTOVER_MJ_TAG.search(html)
    if leftover:  # mjml passes unknown mj- tags through silently; that is a template bug
        tag = leftover.group(1)
        where, lineno = _find_tag(env, tag)
        where = where or template
        raise TemplateError(
            f"{_location(where, lineno)}: MJML error: unknown element <{tag}>", template=where, lineno=lineno
        )
    return html


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
    env = _environment(settings.templates_dir, custom)
    html_template = ISSUE_HTML if custom is None else CUSTOM_HTML
    context = {
        **_sender_context(settings, profile),
        "issue": IssueView(number=issue.number, subject=issue.subject, preheader=issue.preheader or ""),
        "editor_note": [p for p in (issue.editor_note or "").split("\n\n") if p.strip()],  # paragraphs
        "articles": [article_view(article) for article in issue.articles],
        "archive_url": f"{settings.base_url.rstrip('/')}/archive/{issue.number}",
        "slot": SlotView(),
    }
    source = _render(env, settings.templates_dir, html_template, context)
    html = _to_html(env, source, html_template)
    text = plaintext.tidy(_render(env, settings.templates_dir, ISSUE_TEXT, context))
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
