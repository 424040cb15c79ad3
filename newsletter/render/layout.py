"""Jinja2 -> MJML -> HTML for the e-mail templates, with the limits an editor's template meets.

This module imports no database, web or settings code, so the caged renderer's child process
(``newsletter.render.cage_child``) starts in a few tens of milliseconds. ``render.issue`` builds
the context from the database; ``render_layout`` turns it into HTML and text, in this process for
the shipped templates and in the cage (``newsletter.render.cage``) for the editor's own.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.sandbox
import mjml
from markupsafe import Markup

from newsletter.errors import Conflict
from newsletter.render import plaintext
from newsletter.render.markers import GREETING_SLOT, UNSUBSCRIBE_SLOT, SlotMarker, scrub_markers

if TYPE_CHECKING:
    from newsletter.issues.list_profile import ListProfile

ISSUE_HTML = "email/issue.mjml.j2"
ISSUE_TEXT = "email/issue.txt.j2"
# The editor's uploaded issue layout is loaded under this name (it may include the shipped parts).
CUSTOM_HTML = "email/custom-issue.mjml.j2"

# How deep tags may nest in the MJML handed to mjml-python. Its Rust parser recurses once per
# level and overflows the stack (a segfault, not an exception) at ~5,000-12,000 levels on an 8 MB
# stack, at ~4,000 on a 2 MB thread stack; real e-mail layouts nest 10-30 deep.
MAX_DEPTH = 100
# Elements that never have a closing tag, so never nest (mjml-python knows them too).
VOID_ELEMENTS = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# No unquoted "<" inside a tag, so a "<" without its ">" costs a scan to the next "<", not to the
# end of the text (many of them would take quadratic time).
_ANY_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)((?:[^<>\"']|\"[^\"]*\"|'[^']*')*)>")
_LEFTOVER_MJ_TAG = re.compile(r"<(mj-[a-z0-9-]+)")


class TemplateError(Conflict):
    """A template could not be rendered; the message names the template file and line."""

    def __init__(self, message: str, *, template: str | None = None, lineno: int | None = None) -> None:
        super().__init__(message)
        self.template = template
        self.lineno = lineno


class TemplateLimitExceeded(TemplateError):
    """A template went past one of the renderer's limits; the message names the limit."""


@dataclass(frozen=True)
class Block:
    kind: str  # newsletter.content.blocks: paragraph, heading, list, quote, pull_quote, image, divider, link_card
    text: str  # its words, plain
    html: str = ""  # the e-mail's HTML for it (render.blocks_html), already cleaned
    plain: str = ""  # the text part's lines for it, wrapped, links as "words (URL)" (plaintext.block_text)


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
    # The feature image and its credit as e-mail HTML (render.blocks_html, as a body image: width and
    # height when it is one of ours, so Outlook sizes it; height:auto so phones scale it); "" if none.
    image_html: str = ""


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


# -- the issue context as JSON, for the cage's child process (no pickle: the child is not trusted)


def encode_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """An issue context as JSON-ready values; ``slot`` is left out (the child makes its own)."""
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        return value

    return {key: plain(value) for key, value in context.items() if key != "slot"}


def decode_context(data: Mapping[str, Any]) -> dict[str, Any]:
    """The context ``encode_context`` gave, with the same view classes the templates saw."""
    def article(fields: dict[str, Any]) -> ArticleView:
        # The HTML was made and cleaned by the parent (render.blocks_html), so it is markup again here.
        blocks = tuple(Block(**{**block, "html": Markup(block.get("html", ""))}) for block in fields["blocks"])
        return ArticleView(**{**fields, "blocks": blocks, "image_html": Markup(fields.get("image_html", ""))})

    design = data["design"]
    return {
        **data,
        "design": DesignView(**{**design, "footer_lines": tuple(design["footer_lines"])}),
        "issue": IssueView(**data["issue"]),
        "articles": [article(fields) for fields in data["articles"]],
        "slot": SlotView(),
    }


# -- Jinja


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


def environment(templates_dir: Path, custom: str | None = None) -> jinja2.Environment:
    """The Jinja environment for ``templates_dir``, sandboxed with ``custom`` (the editor's layout).
    The shipped templates' one is kept per folder: it compiles each template once (~12 ms each)
    and recompiles one whose file changed (auto_reload), instead of all of them on every render."""
    if custom is None:
        return _shipped_environment(templates_dir)
    return _new_environment(templates_dir, custom)


@functools.lru_cache(maxsize=8)
def _shipped_environment(templates_dir: Path) -> jinja2.Environment:
    return _new_environment(templates_dir, None)


def _new_environment(templates_dir: Path, custom: str | None) -> jinja2.Environment:
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


def megabytes(chars: int) -> str:
    return f"{chars / 2**20:g} MB"


def _joined(parts: Any, name: str, max_chars: int | None) -> str:
    if max_chars is None:
        return "".join(parts)
    kept: list[str] = []
    size = 0
    for part in parts:  # stop at the limit, before a runaway loop fills the memory
        size += len(part)
        if size > max_chars:
            limit = megabytes(max_chars)
            raise TemplateLimitExceeded(f"{name}: the template's output is larger than {limit}; the limit is {limit}",
                                        template=name)
        kept.append(part)
    return "".join(kept)


def render_template(env: jinja2.Environment, templates_dir: Path, name: str, context: Mapping[str, Any],
                    max_chars: int | None = None) -> str:
    try:
        return _joined(env.get_template(name).generate(context), name, max_chars)
    except (TemplateLimitExceeded, MemoryError):
        raise  # the cage reports these as limits, not as a line of the template
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


# -- MJML


def _without_comments(text: str) -> str:
    """``text`` with each <!-- comment --> blanked (offsets kept); found with str.find, as a lazy
    regular expression would rescan to the end for every unclosed "<!--"."""
    parts: list[str] = []
    at = 0
    while (start := text.find("<!--", at)) != -1:
        end = text.find("-->", start + 4)
        end = len(text) if end == -1 else end + 3
        parts += [text[at:start], " " * (end - start)]
        at = end
    return "".join(parts) + text[at:]


def nesting(text: str, limit: int = MAX_DEPTH) -> tuple[int, int | None]:
    """How deep tags nest in ``text`` (comments skipped), and the offset of the first tag past
    ``limit`` (None if none). Like mjml-python, any closing tag closes the innermost element."""
    text = _without_comments(text)
    depth = deepest = 0
    past: int | None = None
    for match in _ANY_TAG.finditer(text):
        if match.group(1):
            depth = max(depth - 1, 0)
        elif match.group(2).lower() not in VOID_ELEMENTS and not match.group(3).rstrip().endswith("/"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if past is None and depth > limit:
                    past = match.start()
    return deepest, past


def depth_message(deepest: int) -> str:
    return f"the template nests tags {deepest} deep; the limit is {MAX_DEPTH}"


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


def to_html(env: jinja2.Environment, source: str, template: str, max_chars: int | None = None) -> str:
    deepest, past = nesting(source)
    if past is not None:  # checked before mjml-python sees it: past the limit it may crash the process
        raise TemplateLimitExceeded(f"{template}: once rendered, {depth_message(deepest)}", template=template)
    try:
        # fonts={}: no Google Fonts link for "Roboto" & co.; e-mails use system font stacks only
        html = mjml.mjml2html(source, fonts={})
    except ValueError as exc:
        raise TemplateError(f"{template}: MJML error: {exc}", template=template) from exc
    if max_chars is not None and len(html) > max_chars:
        limit = megabytes(max_chars)
        raise TemplateLimitExceeded(f"{template}: the template's HTML is larger than {limit}; the limit is {limit}",
                                    template=template)
    leftover = _LEFTOVER_MJ_TAG.search(html)
    if leftover:  # mjml passes unknown mj- tags through silently; that is a template bug
        tag = leftover.group(1)
        where, lineno = _find_tag(env, tag)
        where = where or template
        raise TemplateError(
            f"{_location(where, lineno)}: MJML error: unknown element <{tag}>", template=where, lineno=lineno
        )
    return html


def render_layout(templates_dir: Path, custom: str | None, context: Mapping[str, Any],
                  max_chars: int | None = None) -> tuple[str, str]:
    """An issue's (HTML, text) from its context, with the shipped layout or ``custom``; each
    output is cut off with TemplateLimitExceeded past ``max_chars`` characters."""
    env = environment(templates_dir, custom)
    name = ISSUE_HTML if custom is None else CUSTOM_HTML
    html = to_html(env, render_template(env, templates_dir, name, context, max_chars), name, max_chars)
    text = plaintext.tidy(render_template(env, templates_dir, ISSUE_TEXT, context, max_chars))
    return html, text
