"""Slot markers: the places in a rendered issue where per-reader values go, and how to fill them.

An issue is rendered once with these markers left in; a reader's greeting and unsubscribe URL
replace them later (``fill_html``/``fill_text`` for previews and the archive page, the
``message`` module for outgoing mail). The markers are plain ASCII without any character that
HTML escaping, Jinja, MJML, quoted-printable or text wrapping would touch.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from newsletter.mail.message import Reader

GREETING_SLOT = "@@NL-SLOT-GREETING-5c1e@@"
UNSUBSCRIBE_SLOT = "@@NL-SLOT-UNSUBSCRIBE-URL-5c1e@@"
# Only in the HTML of a tracked issue as compiled for sending (never stored): the reader's token.
READER_SLOT = "@@NL-SLOT-READER-TOKEN-5c1e@@"
SLOTS = (GREETING_SLOT, UNSUBSCRIBE_SLOT, READER_SLOT)

# C0/C1 controls (CR, LF, NUL, DEL, NEL...), Unicode line/paragraph separators and lone
# surrogates: none belongs in a name, subject or URL, and CR/LF would allow header injection.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Characters a URL may keep as they are; everything else non-ASCII is percent-encoded so the
# same URL can stand in a header, a text body and an href.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


class SlotMarker(str):
    """A marker as handed to templates: the only string the renderer lets through unscrubbed."""


def clean_text(value: str) -> str:
    """Control characters become spaces, then runs of whitespace collapse into single spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())


def clean_url(value: str) -> str:
    """A URL safe for a header, a text line and an attribute: no controls, spaces or <>."""
    url = _CONTROL.sub("", value).strip().replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")
    if not url.isascii():
        url = quote(url, safe=_URL_SAFE)
    return url


def scrub_markers(value: str) -> str:
    """Remove marker text that arrived through content (an article must not create slots)."""
    if "@@NL-SLOT-" not in value:
        return value
    for marker in SLOTS:
        value = value.replace(marker, "")
    return value


def greeting_line(name: str) -> str:
    """"Hi Ana," for a named reader, "Hello," otherwise."""
    name = clean_text(name)
    return f"Hi {name}," if name else "Hello,"


def _values(reader: Reader | None, base_url: str) -> tuple[str, str]:
    if reader is None:
        return "Hello,", clean_url(f"{base_url.rstrip('/')}/unsubscribe")
    return greeting_line(reader.name), clean_url(reader.unsubscribe_url)


def fill_html(html_text: str, reader: Reader | None, *, base_url: str = "") -> str:
    """Put the reader's values (HTML-escaped) into a rendered HTML issue.

    With no reader (the public web version) the greeting is "Hello," and the unsubscribe link
    points to ``{base_url}/unsubscribe`` (a site-relative ``/unsubscribe`` if base_url is "").
    """
    greeting, url = _values(reader, base_url)
    return html_text.replace(GREETING_SLOT, html.escape(greeting)).replace(
        UNSUBSCRIBE_SLOT, html.escape(url, quote=True)
    )


def fill_text(text: str, reader: Reader | None, *, base_url: str = "") -> str:
    """Put the reader's values into a rendered plain-text issue (same defaults as fill_html)."""
    greeting, url = _values(reader, base_url)
    return text.replace(GREETING_SLOT, greeting).replace(UNSUBSCRIBE_SLOT, url)
