"""The public URLs the emails and pages point to, built in one place."""

from __future__ import annotations

from urllib.parse import quote

from newsletter.config import Settings
from newsletter.tokens import Tokens


class Links:
    def __init__(self, settings: Settings, tokens: Tokens) -> None:
        self._base = settings.base_url.rstrip("/")
        self._domain = settings.mail_domain
        self._tokens = tokens

    def confirm(self, subscriber_id: int, email: str) -> str:
        return f"{self._base}/confirm/{self._tokens.confirm_token(subscriber_id, email)}"

    def unsubscribe(self, subscriber_id: int) -> str:
        return f"{self._base}/unsubscribe/{self._tokens.unsubscribe_token(subscriber_id)}"

    def unsubscribe_mailto(self, subscriber_id: int) -> str:
        token = self._tokens.unsubscribe_token(subscriber_id)
        return f"mailto:unsubscribe@{self._domain}?subject={quote('unsubscribe ' + token)}"

    def archive(self, number: int) -> str:
        return f"{self._base}/archive/{number}"

    def preview(self, issue_id: int) -> str:
        return f"{self._base}/admin/issues/{issue_id}/preview"
