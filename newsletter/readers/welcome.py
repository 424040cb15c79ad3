"""The welcome email, sent once right after a reader confirms, when the editor has turned it on.

Its subject and Markdown body are the editor's (``list_profile``: off by default). It is a
courtesy: a failure to render or send it is logged and never undoes or fails the confirmation.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from newsletter.mail.backends import Backend, BackendError, SendStatus
from newsletter.config import Settings
from newsletter.mail.links import Links
from newsletter.issues.list_profile import effective_settings, load_profile
from newsletter.mail.message import build_simple_message
from newsletter.mail.one_off import send_one_off
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.render.issue import TemplateError, render_welcome

log = logging.getLogger(__name__)


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
