"""The public URLs the emails and pages point to, built in one place."""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.mail.tokens import Tokens


class Links:
    def __init__(self, settings: Settings, tokens: Tokens) -> None:
        self._base = settings.base_url.rstrip("/")
        self._domain = settings.mail_domain
        self._tokens = tokens

    def confirm(self, subscriber_id: int, email: str) -> str:
        return f"{self._base}/confirm/{self._tokens.confirm_token(subscriber_id, email)}"

    def unsubscribe(self, subscriber_id: int) -> str:
        return self.unsubscribe_both(subscriber_id)[0]

    def unsubscribe_mailto(self, subscriber_id: int) -> str:
        return self.unsubscribe_both(subscriber_id)[1]

    def unsubscribe_both(self, subscriber_id: int, list_slug: str | None = None) -> tuple[str, str]:
        """(https URL, mailto) from one token: the send hot path signs once per reader.

        ``list_slug``: the list the email came from, when it is not the first list; unsubscribing
        ends that subscription only. The token is the credential; the list only says which.
        """
        token = self._tokens.unsubscribe_token(subscriber_id)
        if list_slug is None:
            return f"{self._base}/unsubscribe/{token}", f"mailto:unsubscribe@{self._domain}?subject=unsubscribe%20{token}"
        return (f"{self._base}/unsubscribe/{token}/{list_slug}",
                f"mailto:unsubscribe@{self._domain}?subject=unsubscribe%20{token}%20{list_slug}")

    def preferences(self, subscriber_id: int) -> str:
        """The reader's preferences page: the unsubscribe token names them, so no new secret is kept."""
        return f"{self._base}/preferences/{self._tokens.unsubscribe_token(subscriber_id)}"

    def confirm_email_change(self, subscriber_id: int, new_email: str) -> str:
        """Sent to the new address; a confirm token (it expires) that names the new address."""
        return f"{self._base}/preferences/confirm/{self._tokens.confirm_token(subscriber_id, new_email)}"

    def undo_email_change(self, subscriber_id: int, old_email: str, new_email: str) -> str:
        """Sent to the old address once a change of address is done: moves the subscription back."""
        return f"{self._base}/preferences/undo/{self._tokens.undo_token(subscriber_id, old_email, new_email)}"

    def archive_feed(self) -> str:
        return f"{self._base}/archive/feed.xml"

    def archive_issue(self, number: int) -> str:
        return f"{self._base}/archive/{number}"

    def preview(self, issue_id: int) -> str:
        return f"{self._base}/admin/issues/{issue_id}/preview"
