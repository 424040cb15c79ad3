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
from newsletter.issues.list_profile import load_profile
from newsletter.mail.links import Links
from newsletter.mail.message import MessageTemplate, Reader, make_message_id
from newsletter.render.rendered import RenderedIssue
from newsletter.render.logo import PROBLEMS as LOGO_PROBLEMS
from newsletter.render.logo import LogoState, logo_state
from newsletter.render.markers import fill_html, fill_text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from newsletter.services import Services

GMAIL_CLIP_BYTES = 102 * 1024  # Gmail cuts the HTML part off ("[Message clipped]") above this
HTML_WARN_BYTES = 90 * 1024
SUBJECT_MAX = 78
PREHEADER_MAX = 140
SAMPLE_SUBSCRIBER_ID = 0  # the personalised sample; no reader has this id

_WEB = ("http", "https")
_LINKS_SHOWN = 5  # at most this many offending URLs are named in one finding

# Each code in the writer's words: a short title and one sentence on why it matters and what to do.
# The finding's own message (with the URLs, sizes, records) is the technical detail shown beneath.
WRITER_TEXTS: dict[str, tuple[str, str]] = {
    "template": ("The email layout is broken", "The design's template could not be turned into an email; "
                 "fix it on the Design page."),
    "html-too-large": ("The email is too long for Gmail", "Gmail hides everything past about 102 KB behind "
                       "\"View entire message\", including the unsubscribe link; remove an article or shorten some."),
    "html-large": ("The email is close to Gmail's length limit", "A little more and Gmail will cut it off; "
                   "keep an eye on its length."),
    "link-scheme": ("Some links will not open", "Mail apps only open web and email links; change these to "
                    "addresses starting with https://."),
    "link-relative": ("Some links are incomplete", "In an email a link must be a full address starting with "
                      "https://, or it leads nowhere."),
    "link-empty": ("Some links go nowhere", "A link has no address; give it one or remove it."),
    "image-url": ("Some images will not show", "Images in an email need a full address starting with https://."),
    "image-alt": ("Some images have no description", "Many readers see images blocked at first, and screen "
                  "readers read the description aloud; add alt text."),
    "text-empty": ("The plain-text version is empty", "Readers whose app shows plain text would get a blank "
                   "email; add some words to the issue."),
    "subject-empty": ("The subject is empty", "Readers decide whether to open from the subject; write one."),
    "subject-long": ("The subject is long", "Inboxes cut subjects off after about 78 characters, fewer on "
                     "phones; put the important words first."),
    "preheader-empty": ("No preheader", "Inboxes show the first words of the email beside the subject "
                        "instead; a preheader lets you choose them."),
    "preheader-long": ("The preheader is long", "Inboxes show only about 140 characters of it."),
    "list-unsubscribe-missing": ("Readers cannot unsubscribe from the inbox", "The unsubscribe button "
                                 "that Gmail, Yahoo and Apple Mail show is missing; check the sending settings."),
    "list-unsubscribe-url": ("The inbox unsubscribe button has no web address", "Gmail and Yahoo need one "
                             "to offer one-click unsubscribe; check the base URL setting."),
    "list-unsubscribe-https": ("The unsubscribe address is not secure", "Gmail and Yahoo want an https:// "
                               "address for one-click unsubscribe; serve the site over https."),
    "list-unsubscribe-mailto": ("No unsubscribe by email", "Some mail apps unsubscribe by sending an email; "
                                "that option is missing."),
    "list-unsubscribe-post": ("One-click unsubscribe is missing", "Gmail and Yahoo require it of bulk senders "
                              "and may file the issue as spam without it."),
    "base-url-http": ("The site is not served over https", "Links in the email and one-click unsubscribe "
                      "should use https://; set the base URL to an https address."),
    "dkim-none": ("The email is not signed", "Without a DKIM signature more mail providers will treat the "
                  "issue as spam; set up DKIM keys."),
    "dkim-alignment": ("The signature does not match the sender", "The email is signed for another domain "
                       "than the one it is from, so providers may reject it; sign with the sender's domain."),
    "dns-dmarc": ("Protect your domain from forgery", "A DMARC record tells mail providers what to do with "
                  "mail that pretends to come from you; ask whoever runs your domain's DNS to add it."),
    "image-missing": ("Some images are missing", "An article shows an image that is no longer in the media "
                      "library, so readers would see a broken image; upload it again and update the article."),
    # The logo: its writer's words are render.logo's, the same the design page shows.
    "logo-missing": ("The logo will not show", LOGO_PROBLEMS[LogoState.MISSING]),
    "logo-elsewhere": ("The logo will not show", LOGO_PROBLEMS[LogoState.ELSEWHERE]),
    "dns-spf": ("Say which servers send your mail", "An SPF record lists the servers allowed to send for your "
                "domain and helps the issue reach inboxes; ask whoever runs your domain's DNS to add it."),
}


def writer_text(code: str, message: str) -> tuple[str, str]:
    """The finding's title and explanation; a code without its own words shows its message."""
    if code in WRITER_TEXTS:
        return WRITER_TEXTS[code]
    sentence = message.strip()
    return ("Check before sending", sentence[:1].upper() + sentence[1:] + ("" if sentence.endswith(".") else "."))


@dataclass(frozen=True)
class Finding:
    code: str
    message: str

    @property
    def title(self) -> str:
        return writer_text(self.code, self.message)[0]

    @property
    def explanation(self) -> str:
        return writer_text(self.code, self.message)[1]

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
    # "#article-2" (the contents list) stays within the message; other relative links lead nowhere
    relative = [u for u in tags.links
                if u and not u.startswith("#") and _scheme(u) in ("", *_WEB) and not _absolute_web(u)]
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


def check_image_addresses(report: Preflight, sessions: sessionmaker[Session], issue_id: int) -> None:
    """Images the articles name by an address no email can load: the render leaves them out (never a
    broken image), so they are not in the HTML to be found; an error, as a writer expects them shown.
    Part of the send's own checks (``Publisher.queue``) as well as of ``check_issue``."""
    from newsletter.media.references import unusable_images  # here: media imports the issue models

    unusable = unusable_images(sessions, issue_id)
    if unusable:
        report.error("image-url", "images need absolute http(s) URLs; left out of the email: " + "; ".join(
            f"{image.url[:200]} (in {image.article[:80]!r})" for image in unusable[:5]))


def _check_media(report: Preflight, services: Services, issue_id: int) -> None:
    """Our own images (articles' and the logo) that the media store no longer has: warnings, as a
    reader would see a broken image, not a broken email. External images are not fetched here;
    a logo that cannot be shown (render.logo) is left out of the email for the list's name."""
    from newsletter.media.references import missing_images  # here: media imports the issue models


    for image in missing_images(services.sessions, services.media, issue_id):
        report.warn("image-missing", f"the article {image.article!r} shows an image that is not in the media "
                    f"store: {image.url[:200]}; upload it again and update the article")
    logo = load_profile(services.sessions, services.settings).logo_url
    state = logo_state(logo, services.media)
    if state is LogoState.MISSING:
        report.warn("logo-missing", f"the logo {logo[:200]} is not in the media store, so the email shows the "
                    "list's name instead: upload it again on the design page")
    elif state is LogoState.ELSEWHERE:
        report.warn("logo-elsewhere", f"the logo {logo[:200]} is not in the media store (it was never copied "
                    "from that address), so the email shows the list's name instead: save the design page "
                    "again to copy it, or upload the logo")


def check_issue(services: Services, issue_id: int) -> Preflight:
    """Preflight an issue; raises IssueNotFound, or render.TemplateError for a broken template."""
    rendered = services.publisher.rendered(issue_id)
    report = check_rendered(rendered, services.settings, services.links)
    check_image_addresses(report, services.sessions, issue_id)
    if not load_profile(services.sessions, services.settings).postal_address:
        report.warn("postal-address", "no postal address: the law in many countries (CAN-SPAM, and others) wants one "
                    "in every newsletter's footer; add it in Settings")
    _check_media(report, services, issue_id)
    return report
