"""The emails around joining: the double opt-in confirmation (and how many an address may get),
and the welcome, sent once right after a reader confirms, when the editor has turned it on.

The welcome's subject and Markdown body are the editor's (``list_profile``: off by default). It is
a courtesy: a failure to render or send it is logged and never undoes or fails the confirmation.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import Unavailable
from newsletter.mail.backends import Backend, BackendError, SendStatus
from newsletter.config import Settings
from newsletter.mail.links import Links
from newsletter.lists.catalog import profile_for
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.issues.list_profile import effective_settings, load_profile
from newsletter.mail.message import build_simple_message
from newsletter.mail.one_off import send_one_off
from newsletter.readers.addresses import clean_name
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.render.issue import TemplateError, render_confirmation, render_welcome

log = logging.getLogger(__name__)

# Double opt-in protects against list bombing only if one address can't be sent endless mails:
# at most MAX_CONFIRMATIONS per CONFIRMATION_WINDOW. Confirming starts afresh, so a reader who
# leaves and rejoins over the years is never shut out.
MAX_CONFIRMATIONS = 3
CONFIRMATION_WINDOW = timedelta(hours=24)
# A name typed on the public form is a stranger's text until the address confirms: short, plain,
# and never put into the confirmation email itself.
MAX_SIGNUP_NAME = 60
_LINK_LIKE = re.compile(r"://|www\.|@|\S\.[a-z]{2,}", re.IGNORECASE)


class ConfirmationNotSent(Unavailable):
    """The confirmation email could not be handed to the backend; the reader stays pending."""

    http_status = 502  # the mail server refused: a bad gateway, not our database


@dataclass(frozen=True)
class MailAllowance:
    """At most ``limit`` mails in a ``window`` that starts with the first of them (a count and a
    window start kept on the subscriber)."""

    limit: int
    window: timedelta

    def take(self, sent: int, since: datetime | None, now: datetime) -> tuple[int, datetime] | None:
        """(count, window start) after one more mail, or None when this window's mails are used up."""
        if since is None or now - since >= self.window:
            return 1, now
        if sent >= self.limit:
            return None
        return sent + 1, since


CONFIRMATIONS = MailAllowance(MAX_CONFIRMATIONS, CONFIRMATION_WINDOW)


def take_confirmation(subscriber: Subscriber, now: datetime) -> bool:
    """Count one more confirmation email for this address; False (nothing counted) when it had its
    MAX_CONFIRMATIONS in the current window."""
    taken = CONFIRMATIONS.take(subscriber.confirmations_sent, subscriber.confirmations_since, now)
    if taken is None:
        return False
    subscriber.confirmations_sent, subscriber.confirmations_since = taken
    return True


def signup_name(raw: str) -> str:
    """A name typed at sign-up as kept: printable, one line, at most MAX_SIGNUP_NAME characters;
    nothing that looks like a link or an address (it would be dropped whole, not trimmed)."""
    name = clean_name(raw)
    if _LINK_LIKE.search(name):
        return ""
    return name[:MAX_SIGNUP_NAME].rstrip()


def mail_confirmation(
    sessions: sessionmaker[Session], settings: Settings, backend: Backend, url: str, address: str,
    headers: dict[str, str] | None = None, list_id: int = FIRST_LIST_ID,
) -> None:
    """The double opt-in email with the link `url` (a new reader, or a reader's new address),
    in the editor's design, naming the list joined (and sent with its From);
    ConfirmationNotSent if it could not be sent.

    It names no one: whoever typed the address also typed the name, and neither is the reader's
    until the link is followed (a stranger's text never reaches the To: or the greeting).
    """
    profile = profile_for(sessions, settings, list_id)  # the list's name, From and design
    subject, text, html = render_confirmation(settings, url, "", profile)
    message_id, data = build_simple_message(
        effective_settings(settings, profile), to_email=address, to_name="", subject=subject, text=text,
        html=html, headers=headers,
    )
    try:
        result = send_one_off(backend, settings, address, message_id, data)
    except BackendError as exc:
        raise ConfirmationNotSent(f"could not send the confirmation email: {exc}") from exc
    if result.status is not SendStatus.SENT:
        raise ConfirmationNotSent(f"the mail server refused the confirmation email: {result.code} {result.reply}")


class Welcome:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings, backend: Backend, links: Links) -> None:
        self._sessions = sessions
        self._settings = settings
        self._backend = backend
        self._links = links

    def send(self, subscriber_id: int) -> bool:
        """Mail an active reader the welcome email if it is enabled; True if it was handed over."""
        profile = load_profile(self._sessions, self._settings)
        if not profile.welcome_enabled:
            return False
        with self._sessions() as session:
            subscriber = session.get(Subscriber, subscriber_id)
            if subscriber is None or subscriber.status is not SubscriberStatus.ACTIVE:
                return False
            address, name = subscriber.email, subscriber.name
        unsubscribe_url, mailto = self._links.unsubscribe_both(subscriber_id)
        try:
            subject, text, html = render_welcome(
                self._settings, profile, name,
                unsubscribe_url=unsubscribe_url, preferences_url=self._links.preferences(subscriber_id),
            )
            message_id, data = build_simple_message(
                effective_settings(self._settings, profile), to_email=address, to_name=name,
                subject=subject, text=text, html=html,
                # Like the issues: one-click unsubscribe (RFC 8058) straight from the mail client.
                headers={
                    "List-Unsubscribe": f"<{unsubscribe_url}>, <{mailto}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            )
        except (TemplateError, ValueError) as exc:
            log.error("welcome email for subscriber %s not sent: %s", subscriber_id, exc)
            return False
        try:
            result = send_one_off(self._backend, self._settings, address, message_id, data)
        except BackendError as exc:
            log.warning("welcome email for subscriber %s not sent: %s", subscriber_id, exc)
            return False
        if result.status is not SendStatus.SENT:
            log.warning("welcome email for subscriber %s refused: %s %s", subscriber_id, result.code, result.reply)
            return False
        return True
