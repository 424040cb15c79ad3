"""Optional open and click tracking: signed tokens, link rewriting, and recording what readers do.

Whether an issue is tracked is decided once, when it is queued (``decide_tracking``), and kept
on the issue with its numbered links (``issue_link``), so a later change of the list's switch
never changes an issue already on its way. The stored HTML stays untracked (the archive and the
preview use it); the worker rewrites it when it compiles the message template
(``tracked_html``): each link becomes ``{base}/t/c/<issue>/<idx>/<reader>`` and a 1x1 pixel
``{base}/t/o/<issue>/<reader>.gif`` goes at the end, where ``<reader>`` is one more per-reader
slot, so personalising stays byte-joining and the DKIM fast path holds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import re
from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.issues.list_profile import load_profile
from newsletter.db.base import utcnow
from newsletter.issues.models import Issue, IssueLink, IssueStatus, TrackingEvent
from newsletter.render.markers import READER_SLOT
from newsletter.mail.tokens import InvalidToken
from newsletter.webhooks.emit import emit_for_readers

log = logging.getLogger(__name__)

OPEN = "open"
CLICK = "click"
WEBHOOK_EVENTS = {OPEN: "opened", CLICK: "clicked"}
_MAC_BYTES = 10  # 80 bits: nobody forges a reader's clicks by guessing
# An http(s) href of an <a> tag (not <link>, not mailto:, not the unsubscribe slot marker).
_A_HREF = re.compile(r'(<a\b[^>]*?\bhref=")(https?://[^"]+)(")', re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
# The smallest transparent GIF (1x1, one transparent colour): 43 bytes.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


class TrackingTokens:
    """Short signed tokens: ``<id hex>-<truncated HMAC>``, one key per purpose.

    The reader token is signed together with the issue, so one issue's token says nothing about
    another's; computing one is a single HMAC (microseconds), cheap enough per reader.
    """

    def __init__(self, secret_key: str) -> None:
        # Keyed once: per token only a copy of the HMAC state is updated (the send's hot path).
        self._issue_key = hmac.new(f"newsletter-track-issue\x00{secret_key}".encode(), digestmod=hashlib.sha256)
        self._reader_key = hmac.new(f"newsletter-track-reader\x00{secret_key}".encode(), digestmod=hashlib.sha256)

    @staticmethod
    def _mac(key: hmac.HMAC, message: str) -> str:
        mac = key.copy()
        mac.update(message.encode())
        return base64.b32encode(mac.digest()[:_MAC_BYTES]).decode().lower()

    @staticmethod
    def _read(token: str, mac: Any) -> int:
        hex_id, dash, signature = token.partition("-")
        try:
            value = int(hex_id, 16) if hex_id.isalnum() and len(hex_id) <= 12 else -1
        except ValueError:
            value = -1
        if value < 0 or not dash or not hmac.compare_digest(signature.encode(), mac(value).encode()):
            raise InvalidToken("this tracking link is not valid")
        return value

    def issue_token(self, issue_id: int) -> str:
        return f"{issue_id:x}-{self._mac(self._issue_key, str(issue_id))}"

    def read_issue(self, token: str) -> int:
        return self._read(token, lambda value: self._mac(self._issue_key, str(value)))

    def reader_token(self, issue_id: int, subscriber_id: int) -> str:
        return f"{subscriber_id:x}-{self._mac(self._reader_key, f'{issue_id}:{subscriber_id}')}"

    def read_reader(self, issue_id: int, token: str) -> int:
        return self._read(token, lambda value: self._mac(self._reader_key, f"{issue_id}:{value}"))


def _untracked(url: str, base_url: str) -> bool:
    # The view-in-browser and unsubscribe pages are ours: rewriting them would count nothing useful.
    base = base_url.rstrip("/")
    return url.startswith((f"{base}/archive", f"{base}/unsubscribe"))


def issue_links(html_text: str, base_url: str) -> list[str]:
    """The URLs a tracked issue counts clicks on, unescaped, each once, in order of appearance.

    The index of a URL in this list is the ``idx`` of its click links (``issue_link.idx``).
    """
    links: list[str] = []
    for match in _A_HREF.finditer(html_text):
        url = html.unescape(match.group(2))
        if not _untracked(url, base_url) and url not in links:
            links.append(url)
    return links


def tracked_html(html_text: str, base_url: str, issue_token: str) -> str:
    """The issue's HTML as tracked mail carries it: links through /t/c/, a pixel at the end.

    ``READER_SLOT`` stands where each reader's token goes (filled by ``MessageTemplate``).
    """
    base = base_url.rstrip("/")
    index = {url: i for i, url in enumerate(issue_links(html_text, base_url))}

    def rewrite(match: re.Match[str]) -> str:
        idx = index.get(html.unescape(match.group(2)))
        if idx is None:
            return match.group(0)
        return f"{match.group(1)}{base}/t/c/{issue_token}/{idx}/{READER_SLOT}{match.group(3)}"

    out = _A_HREF.sub(rewrite, html_text)
    pixel = (f'<img src="{base}/t/o/{issue_token}/{READER_SLOT}.gif" width="1" height="1" alt="" '
             'style="display:block;border:0;width:1px;height:1px;" />')
    ends = list(_BODY_END.finditer(out))
    if not ends:
        return out + pixel
    at = ends[-1].start()
    return out[:at] + pixel + out[at:]


def tracking_enabled(sessions: sessionmaker[Session], settings: Settings) -> bool:
    """The list's switch, ``ListProfile.tracking_enabled`` (off unless the editor turns it on)."""
    return load_profile(sessions, settings).tracking_enabled


def decide_tracking(session: Session, issue_id: int, html_text: str, base_url: str, wanted: bool) -> bool:
    """Record on the issue, as it is first queued, whether it is tracked; returns whether it is.

    Only a draft or scheduled issue not yet tracked changes (one guarded UPDATE, so two
    schedulers queueing at once store the links once); a send under way keeps its decision.
    """
    if wanted:
        moved = session.execute(
            update(Issue)
            .where(Issue.id == issue_id, Issue.status.in_([IssueStatus.DRAFT, IssueStatus.SCHEDULED]),
                   Issue.tracking.is_(False))
            .values(tracking=True)
        )
        if cast("CursorResult[Any]", moved).rowcount:
            links = issue_links(html_text, base_url)
            if links:
                session.execute(insert(IssueLink), [
                    {"issue_id": issue_id, "idx": i, "url": url} for i, url in enumerate(links)
                ])
            return True
    return bool(session.scalar(select(Issue.tracking).where(Issue.id == issue_id)))


def link_url(sessions: sessionmaker[Session], issue_id: int, idx: int) -> str | None:
    """The stored URL of a tracked issue's link ``idx``; None for anything else (never an open redirect)."""
    with sessions() as session:
        return session.scalar(select(IssueLink.url).where(IssueLink.issue_id == issue_id, IssueLink.idx == idx))


def record(sessions: sessionmaker[Session], issue_id: int, subscriber_id: int, kind: str,
           link_idx: int | None = None) -> bool:
    """One INSERT; never raises (a lost event must not break a reader's click). False if lost."""
    table = cast("Table", TrackingEvent.__table__)
    try:
        with sessions.begin() as session:
            session.execute(insert(table).values(issue_id=issue_id, subscriber_id=subscriber_id, kind=kind,
                                                 link_idx=link_idx, created_at=utcnow()))
            # The webhook in the same transaction: it exists exactly when the open or click does.
            data: dict[str, object] = {"issue_id": issue_id}
            if link_idx is not None:
                data["link_index"] = link_idx
            emit_for_readers(session, WEBHOOK_EVENTS[kind], [(subscriber_id, data)])
        return True
    except Exception:  # noqa: BLE001  (any database trouble: log and let the reader go on)
        log.exception("could not record a tracking %s for issue %s", kind, issue_id)
        return False
