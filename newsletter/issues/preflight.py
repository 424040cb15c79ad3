"""Preflight: what to fix in an issue (and the sending setup) before it goes to every reader.

``check_issue`` looks at the issue as rendered and as a reader's message would leave: HTML
size against Gmail's clipping, the text part, links and images, subject and preheader, the
unsubscribe headers, the base URL and DKIM alignment, plus the DNS records worth publishing.
Errors stop ``Publisher.queue`` unless forced; warnings never stop anything.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from newsletter.config import Settings
from newsletter.mail.links import Links
from newsletter.mail.message import MessageTemplate, Reader, make_message_id
from newsletter.render.issue import RenderedIssue
from newsletter.render.markers import fill_html, fill_text

if TYPE_CHECKING:
    from newsletter.services import Services

GMAIL_CLIP_BYTES = 102 * 1024  # Gmail cuts the HTML part off ("[Message clipped]") above this
HTML_WARN_BYTES = 90 * 1024
SUBJECT_MAX = 78
PREHEADER_MAX = 140
SAMPLE_SUBSCRIBER_ID = 0  # the personalised sample; no reader has this id

_WEB = ("http", "https")
_LINKS_SHOWN = 5  # at most this many offending URLs are named in one finding


@dataclass(frozen=True)
class Finding:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class Preflight:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, code: str, message: str) -> None:
        self.errors.append(Finding(code, message))

    def warn(self, code: str, message: str) -> None:
        self.warnings.append(Finding(code, message))

    def as_dict(self) -> dict[str, list[dict[str, str]]]:
        return {"errors": [f.as_dict() for f in self.errors], "warnings": [f.as_dict() for f in self.warnings]}


class _Tags(HTMLParser):
    """Every <a href> and <img> of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[tuple[str, str | None]] = []  # (src, alt or None when absent)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and "href" in values:
            self.links.append((values["href"] or "").strip())
        elif tag == "img":
            self.images.append(((values.get("src") or "").strip(), values.get("alt")))

    handle_startendtag = handle_starttag


def _scheme(url: str) -> str:
    # Browsers drop controls and whitespace inside a scheme ("java\nscript:"); so do we.
    return urlsplit(re.sub(r"[\x00-\x20]", "", url)).scheme.lower()


def _absolute_web(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in _WEB and bool(parts.netloc)


def _named(urls: list[str]) -> str:
    shown = ", ".join(repr(u[:120]) for u in urls[:_LINKS_SHOWN])
    more = len(urls) - _LINKS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _kb(size: int) -> str:
    return f"{size / 1024:.1f} KB"


def _check_html(report: Preflight, html: str) -> None:
    size = len(html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        report.error(
            "html-too-large",
            f"the HTML part is {_kb(size)}: Gmail clips messages above 102 KB, hiding the rest "
            "(and the unsubscribe link); shorten the issue",
        )
    elif size > HTML_WARN_BYTES:
        report.warn("html-large", f"the HTML part is {_kb(size)}, close to Gmail's 102 KB clipping limit")
    tags = _Tags()
    tags.feed(html)
    tags.close()
    scripts = [u for u in tags.links if _scheme(u) not in ("", *_WEB, "mailto")]
    relative = [u for u in tags.links if u and _scheme(u) in ("", *_WEB) and not _absolute_web(u)]
    empty = [u for u in tags.links if not u]
    if scripts:
        report.error("link-scheme", f"links with a scheme mail clients refuse (only http, https, mailto): {_named(scripts)}")
    if relative:
        report.error("link-relative", f"relative links do not work in e-mail; use absolute https URLs: {_named(relative)}")
    if empty:
        report.error("link-empty", f"{len(empty)} link(s) with an empty href")
    bad_src = [src for src, _ in tags.images if not _absolute_web(src)]
    no_alt = [src for src, alt in tags.images if not (alt or "").strip()]
    if bad_src:
        report.error("image-url", f"images need absolute http(s) URLs: {_named(bad_src)}")
    if no_alt:
        report.warn("image-alt", f"images without alt text (shown when images are blocked): {_named(no_alt)}")


def _check_words(report: Preflight, rendered: RenderedIssue, text: str) -> None:
    if not text.strip():
        report.error("text-empty", "the plain-text part is empty")
    subject = rendered.subject.strip()
    if not subject:
        report.error("subject-empty", "the subject is empty")
    elif len(subject) > SUBJECT_MAX:
        report.warn("subject-long", f"the subject is {len(subject)} characters; inboxes cut it after about {SUBJECT_MAX}")
    preheader = rendered.preheader.strip()
    if not preheader:
        report.warn("preheader-empty", "no preheader: inboxes show the first words of the body instead")
    elif len(preheader) > PREHEADER_MAX:
        report.warn("preheader-long", f"the preheader is {len(preheader)} characters; inboxes show about {PREHEADER_MAX}")


def _header_urls(value: str) -> list[str]:
    return [u.strip() for u in re.findall(r"<([^>]*)>", value)]


def _check_headers(report: Preflight, rendered: RenderedIssue, settings: Settings, reader: Reader) -> None:
    """Compile the message as the workers do and look at one personalised sample."""
    template = MessageTemplate.compile(rendered, settings)
    data = template.personalise(reader, make_message_id(0, SAMPLE_SUBSCRIBER_ID, settings.mail_domain))
    message = email.message_from_bytes(data, policy=email.policy.default)
    unsubscribe = str(message.get("List-Unsubscribe", "") or "")
    urls = _header_urls(unsubscribe)
    web = [u for u in urls if _absolute_web(u)]
    if not unsubscribe:
        report.error("list-unsubscribe-missing", "the List-Unsubscribe header is missing")
    elif not web:
        report.error("list-unsubscribe-url", f"List-Unsubscribe has no http(s) URL: {unsubscribe}")
    elif not any(_scheme(u) == "https" for u in web):
        report.warn("list-unsubscribe-https", "List-Unsubscribe's URL is not https: Gmail and Yahoo want https for one-click")
    if unsubscribe and not any(_scheme(u) == "mailto" for u in urls):
        report.warn("list-unsubscribe-mailto", "List-Unsubscribe has no mailto: address")
    post = str(message.get("List-Unsubscribe-Post", "") or "").strip()
    if post != "List-Unsubscribe=One-Click":
        report.error("list-unsubscribe-post", "the List-Unsubscribe-Post: List-Unsubscribe=One-Click header is missing")


def _check_setup(report: Preflight, settings: Settings) -> None:
    if _scheme(settings.base_url) != "https":
        report.warn("base-url-http", f"base_url {settings.base_url} is not https: links and one-click unsubscribe should be https")
    domain = settings.mail_domain.lower().rstrip(".")
    keys: Any = getattr(settings, "dkim_keys", None)  # "selector=/path,..." (config.py), or any mapping
    if isinstance(keys, str):
        keys = [item for item in keys.split(",") if item.strip()]
    dkim_domain = str(getattr(settings, "dkim_domain", "") or "").lower().strip().rstrip(".")
    if not keys:
        report.warn("dkim-none", f"no DKIM keys are configured: mail from {domain} is not signed, so DMARC rests on SPF alone")
    elif dkim_domain and not (domain == dkim_domain or domain.endswith("." + dkim_domain)):
        report.error(
            "dkim-alignment",
            f"DKIM signs as {dkim_domain} but mail is from {domain}: DMARC needs the signing domain to be "
            f"{domain} or a parent of it",
        )
    report.warn("dns-dmarc", f'publish a DMARC record: _dmarc.{domain} TXT "v=DMARC1; p=none; rua=mailto:postmaster@{domain}"')
    relay = settings.smtp_host if settings.backend == "smtp" and settings.smtp_host not in ("", "localhost") else ""
    allow = f"a:{relay} " if relay else "mx "
    report.warn(
        "dns-spf",
        f'publish an SPF record for the envelope domain: {domain} TXT "v=spf1 {allow}~all" '
        "(use your mail provider's include: if it sends for you)",
    )


def check_rendered(rendered: RenderedIssue, settings: Settings, links: Links) -> Preflight:
    """All checks on an already rendered issue (the core of ``check_issue``)."""
    report = Preflight()
    url, mailto = links.unsubscribe_both(SAMPLE_SUBSCRIBER_ID)
    reader = Reader(email=f"reader@{settings.mail_domain}", name="Sample Reader", unsubscribe_url=url,
                    unsubscribe_mailto=mailto)
    html = fill_html(rendered.html, reader, base_url=settings.base_url)
    text = fill_text(rendered.text, reader, base_url=settings.base_url)
    _check_html(report, html)
    _check_words(report, rendered, text)
    _check_headers(report, rendered, settings, reader)
    _check_setup(report, settings)
    return report


def check_issue(services: Services, issue_id: int) -> Preflight:
    """Preflight an issue; raises IssueNotFound, or render.TemplateError for a broken template."""
    rendered = services.publisher.rendered(issue_id)
    return check_rendered(rendered, services.settings, services.links)
