"""Mail the inbound handler sends back: the help text and the unsubscribe confirmation.

Anyone can put any address in From, so every reply is one a stranger can aim at a victim. Each
goes out at most once per `REPLY_INTERVAL` per address and kind (counted in `inbound_reply`, with
a claim that is one conditional upsert, so concurrent messages cannot both win), and never to a
suppressed address.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db.sql import insert_for
from newsletter.config import Settings
from newsletter.inbound.models import InboundReply
from newsletter.issues.list_profile import effective_settings, load_profile
from newsletter.mail.backends import Backend, BackendError, SendStatus
from newsletter.mail.message import build_simple_message
from newsletter.mail.one_off import send_one_off
from newsletter.readers.suppression import SuppressionList

REPLY_INTERVAL = timedelta(days=1)
HELP = "help"
UNSUBSCRIBE = "unsubscribe"


class ReplyLimiter:
    """At most one reply per address and kind per `REPLY_INTERVAL`, counted in the database."""

    def __init__(self, sessions: sessionmaker[Session], secret_key: str, interval: timedelta = REPLY_INTERVAL) -> None:
        self._sessions = sessions
        # A key of its own: these hashes say nothing about the suppression list's or the links'.
        self._key = hmac.new(secret_key.encode(), b"newsletter inbound replies", hashlib.sha256).digest()
        self._interval = interval

    def _hash(self, address: str) -> str:
        return hmac.new(self._key, address.strip().lower().encode(), hashlib.sha256).hexdigest()

    def claim(self, address: str, kind: str, now: datetime) -> bool:
        """Take this interval's reply to `address`; False if it was already taken."""
        cutoff = now - self._interval
        with self._sessions.begin() as session:
            row = insert_for(session)(InboundReply).values(address_hash=self._hash(address), kind=kind, last_sent_at=now)
            # Insert, or take over a row whose reply is older than the interval; otherwise nothing.
            statement = row.on_conflict_do_update(
                index_elements=["address_hash", "kind"],
                set_={"last_sent_at": now},
                where=InboundReply.last_sent_at <= cutoff,
            ).returning(InboundReply.address_hash)
            won = session.execute(statement).first() is not None
            if won:  # rows past the interval only say "answered long ago": forget them
                session.execute(delete(InboundReply).where(InboundReply.last_sent_at <= cutoff))
            return won

    def release(self, address: str, kind: str, now: datetime) -> None:
        """Give back a claim whose reply could not be sent, so the sender's retry is answered."""
        with self._sessions.begin() as session:
            session.execute(delete(InboundReply).where(
                InboundReply.address_hash == self._hash(address), InboundReply.kind == kind,
                InboundReply.last_sent_at == now,
            ))


class Replies:
    """Sends the handler's replies, each through the limiter and the suppression list."""

    def __init__(
        self, sessions: sessionmaker[Session], settings: Settings, backend: Backend, suppression: SuppressionList,
        now: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._backend = backend
        self._suppression = suppression
        self._now = now
        self._limiter = ReplyLimiter(sessions, settings.secret_key)

    def help(self, to: str) -> str:
        settings = self._list_settings()
        domain = settings.mail_domain
        text = (
            f"{settings.list_name}: commands by email\n\n"
            f"  unsubscribe@{domain} (or leave@)  stop receiving the newsletter (we mail you a link to confirm)\n"
            f"  subscribe@{domain} (or join@)     subscribe (you will be asked to confirm)\n"
            f"  help@{domain}                     this message (at most once a day)\n\n"
            f"Web: {settings.base_url}\n"
        )
        return self._send(HELP, to, settings, f"{settings.list_name}: help", text, {}, "replied to")

    def unsubscribe_confirmation(self, to: str, url: str, token: str) -> str:
        """Asks the reader to confirm by the link (their usual unsubscribe page) or by replying:
        the reply's Subject carries the token, which `unsubscribe@` honours at once."""
        settings = self._list_settings()
        text = (
            f"Someone, probably you, asked by email to unsubscribe {to} from {settings.list_name}.\n\n"
            f"To confirm, open this link and press the button:\n\n  {url}\n\n"
            "or reply to this email without changing its subject.\n\n"
            "If you did not ask, ignore this email: you stay subscribed.\n"
        )
        headers = {"Reply-To": f"unsubscribe@{self._settings.mail_domain}"}
        subject = f"unsubscribe {token} ({settings.list_name})"
        return self._send(UNSUBSCRIBE, to, settings, subject, text, headers, "asked to confirm:")

    def _list_settings(self) -> Settings:
        return effective_settings(self._settings, load_profile(self._sessions, self._settings))

    def _send(
        self, kind: str, to: str, settings: Settings, subject: str, text: str, headers: dict[str, str], done: str
    ) -> str:
        with self._sessions() as session:
            if self._suppression.suppressed(session, [to]):
                return f"{kind}: {to} is suppressed, not answered"
        now = self._now()
        if not self._limiter.claim(to, kind, now):
            return f"{kind}: {to} was answered less than {_hours(REPLY_INTERVAL)} ago, not answered"
        try:
            message_id, data = build_simple_message(
                settings, to_email=to, to_name="", subject=subject, text=text, html=None,
                headers={"Auto-Submitted": "auto-replied", **headers},
            )
            result = send_one_off(self._backend, self._settings, to, message_id, data)
        except (ValueError, BackendError) as exc:  # an address no header can carry; the backend is down
            self._limiter.release(to, kind, now)
            return f"{kind}: reply to {to} failed: {exc}"
        if result.status is not SendStatus.SENT:
            self._limiter.release(to, kind, now)
            return f"{kind}: reply to {to} refused: {result.code} {result.reply}"
        return f"{kind}: {done} {to}"


def _hours(interval: timedelta) -> str:
    return f"{interval.total_seconds() / 3600:g} h"
