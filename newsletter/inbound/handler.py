"""Mail sent to the list's own domain: commands (unsubscribe, subscribe, confirm, help) and
reports (bounces and complaints, read by `inbound_reports`).

`subscribe@` (or `join@`) signs the sender up for the first list, `subscribe+<slug>@` for the
list with that slug: a pending subscription until the mailbox confirms, as the list's subscribe
page does. An unknown slug is refused at RCPT like any address that is not ours, so the answer
tells no more than `/n/<slug>/subscribe` already does.

From is whatever the sender typed, so it proves nothing: only a signed token acts at once (the
List-Unsubscribe mailto's Subject, a `confirm+` address). A plain request to `unsubscribe@` mails
the reader a confirmation instead; help@ answers only a sender whose envelope matches From. Both
replies go out at most once a day per address (`replies.py`), never to a suppressed one.

`InboundHandler.handle` never raises for anything in the message: broken MIME, unknown
recipients, forged tokens, invalid addresses and addresses we never mailed each become a log line,
and nothing is changed. A dead database raises `InboundUnavailable` (the SMTP server answers 451,
the mailbox poller keeps the message), and so does nothing else: a bug propagates to the server's
boundary, which logs its traceback and keeps the message too.
"""

from __future__ import annotations

import email
import logging
import re
from collections.abc import Callable
from datetime import datetime
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError

from newsletter.lists.catalog import SLUG_RE, list_by_slug
from newsletter.lists.errors import UnknownList
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.errors import Unavailable
from newsletter.db.base import utcnow
from newsletter.db.engine import DatabaseUnavailable
from newsletter.delivery.types import StoreUnavailable
from newsletter.readers.addresses import InvalidAddress, normalise_email
from newsletter.inbound.bounces import classify_message
from newsletter.config import Settings
from newsletter.inbound.replies import Replies
from newsletter.inbound.reports import ReportReader
from newsletter.readers.models import Subscriber, SubscriberStatus
from newsletter.services import Services
from newsletter.mail.signed_addresses import BOUNCES, CONFIRM, SignedAddresses
from newsletter.readers.subscriptions import ConfirmationNotSent, SubscribeOutcome
from newsletter.mail.tokens import InvalidToken

log = logging.getLogger(__name__)

UNSUBSCRIBE = frozenset({"unsubscribe", "leave"})
SUBSCRIBE = frozenset({"subscribe", "join"})
HELP = frozenset({"help"})
REPORTS = frozenset({BOUNCES, "postmaster", "abuse"})

# "unsubscribe <token>", or "unsubscribe <token> <list slug>" from another list's emails.
_TOKEN_RE = re.compile(r"^\s*(?:re:\s*)?unsubscribe\s+(\S+)(?:\s+([a-z0-9-]{1,60})\b)?", re.IGNORECASE)


def _action_of(local: str) -> str | None:
    """Which kind of address a local part is, or None if it is not one of ours (the slug of a
    ``subscribe+<slug>`` is only checked for its form here: `InboundHandler.list_of` finds the list)."""
    base, plus, tag = local.lower().partition("+")
    if plus:  # the signed addresses carry a token; subscribe+ a list's slug
        if base in SUBSCRIBE:
            return "subscribe" if SLUG_RE.fullmatch(tag) else None
        return {BOUNCES: "report", CONFIRM: "confirm"}.get(base)
    for action, names in (("unsubscribe", UNSUBSCRIBE), ("subscribe", SUBSCRIBE), ("help", HELP), ("report", REPORTS)):
        if base in names:
            return action
    return None


def _header(msg: Message | None, name: str) -> str:
    if msg is None:
        return ""
    value = msg.get(name)
    if value is None:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except Exception:  # noqa: BLE001 - a broken header is just text
        return str(value)


class InboundUnavailable(Unavailable):
    """The database could not be reached: the message should be offered again later."""


class InboundHandler:
    def __init__(self, services: Services, now: Callable[[], datetime] = utcnow) -> None:
        """`now`: the clock the once-a-day reply limit and the confirmation window read (tests move it)."""
        self._services = services
        self._now = now
        self._domain = services.settings.mail_domain.lower()
        self._reports = ReportReader(services)
        self._confirm = SignedAddresses(services.settings.secret_key, services.settings.mail_domain, CONFIRM)
        self._replies = Replies(services.sessions, services.settings, services.backend, services.suppression, now)

    @property
    def settings(self) -> Settings:
        return self._services.settings

    def accepts(self, rcpt: str) -> bool:
        """Whether mail for this address is ours to read (the SMTP server refuses the rest).

        ``subscribe+<slug>@`` reads the database (InboundUnavailable when it is down)."""
        local, _, domain = rcpt.strip().strip("<>").rpartition("@")
        action = _action_of(local) if domain.lower() == self._domain else None
        if action == "subscribe":
            try:
                return self.list_of(local) is not None
            except (OperationalError, InterfaceError) as exc:
                raise InboundUnavailable(f"database unavailable: {exc.orig}") from exc
            except (DatabaseUnavailable, StoreUnavailable) as exc:
                raise InboundUnavailable(str(exc)) from exc
        return action is not None

    def list_of(self, local: str) -> int | None:
        """The list a subscribe address signs up for: the first list's without ``+<slug>``, None
        for a slug that is no list's."""
        _, plus, slug = local.lower().partition("+")
        if not plus:
            return FIRST_LIST_ID
        try:
            return list_by_slug(self._services.sessions, slug).id
        except UnknownList:
            return None

    def handle(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> list[str]:
        """Act on one received message; returns log lines saying what was done.

        Never raises for anything in the message; InboundUnavailable if the database is down.
        Anything else that escapes is a bug, for the caller's boundary to log and keep the message.
        """
        try:
            lines = self._handle(mail_from, rcpt_tos, data)
        except (OperationalError, InterfaceError) as exc:
            # Not the message's fault: the sender (or the mailbox poller) must keep it and retry.
            raise InboundUnavailable(f"database unavailable: {exc.orig}") from exc
        except (DatabaseUnavailable, StoreUnavailable) as exc:
            raise InboundUnavailable(str(exc)) from exc
        for line in lines:
            log.info("inbound: %s", line)
        return lines

    def _handle(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> list[str]:
        try:
            msg: Message | None = email.message_from_bytes(data, policy=compat32)
        except Exception:  # noqa: BLE001
            msg = None
        lines: list[str] = []
        done: set[str] = set()
        for rcpt in rcpt_tos:
            local, _, domain = rcpt.strip().strip("<>").rpartition("@")
            action = _action_of(local) if domain.lower() == self._domain else None
            if action is None:
                lines.append(f"ignored: {rcpt} is not one of our addresses")
                continue
            list_id = self.list_of(local) if action == "subscribe" else None
            if action == "subscribe" and list_id is None:
                # The answer an address that is not ours gets: no word on which lists exist.
                lines.append(f"ignored: {rcpt} is not one of our addresses")
                continue
            key = action if action not in ("report", "confirm", "subscribe") else f"{action}:{list_id or local.lower()}"
            if key in done:
                continue
            done.add(key)
            if action == "report":
                lines.extend(self._reports.handle(data, local))
                continue
            report = classify_message(data)
            if report.kind in ("auto-reply", "bounce", "complaint"):
                lines.append(f"ignored: {report.kind} sent to {rcpt}")
                continue
            sender = self._sender(msg)
            if action == "unsubscribe":
                lines.append(self._unsubscribe(msg, sender))
            elif action == "subscribe":
                lines.append(self._subscribe(sender, list_id or FIRST_LIST_ID))
            elif action == "confirm":
                lines.append(self._confirm_reply(local))
            else:
                lines.append(self._help(sender, mail_from))
        return lines

    @staticmethod
    def _sender(msg: Message | None) -> str | None:
        """The From header's address; a message without one (broken MIME) names nobody."""
        for _, addr in getaddresses([_header(msg, "From")]):
            if "@" in addr:
                return addr
        return None

    def _find(self, address: str) -> Subscriber | None:
        try:
            normal = normalise_email(address)
        except InvalidAddress:
            return None
        with self._services.sessions() as session:
            return session.scalar(select(Subscriber).where(Subscriber.email == normal))

    # -- commands ------------------------------------------------------------------------

    def _unsubscribe(self, msg: Message | None, sender: str | None) -> str:
        match = _TOKEN_RE.match(_header(msg, "Subject"))
        if match:
            try:
                subscriber_id = self._services.tokens.read_unsubscribe(match.group(1))
                list_id = list_by_slug(self._services.sessions, match.group(2).lower()).id if match.group(2) else None
                subscriber = self._services.subscriptions.unsubscribe(
                    subscriber_id, via="by email (List-Unsubscribe mailto)",
                    list_id=list_id if list_id is not None else FIRST_LIST_ID)
            except UnknownList:
                return f"unsubscribe: unknown list {match.group(2)!r}, nothing changed"
            except InvalidToken:
                pass  # "unsubscribe me": no token after all, so a plain request
            else:
                return f"unsubscribe: subscriber {subscriber.id} is now {subscriber.status.value} (token)"
        if sender is None:
            return "unsubscribe: no sender address, nothing changed"
        found = self._find(sender)
        if found is None or found.status is not SubscriberStatus.ACTIVE:
            # Nothing is sent to a stranger, or the list would mail anyone a forged From names.
            return f"unsubscribe: {sender} is not a subscribed reader, nothing sent"
        # The From header proves nothing: the reader confirms by the link or a reply (Mailman's way).
        token = self._services.tokens.unsubscribe_token(found.id)
        line = self._replies.unsubscribe_confirmation(found.email, self._services.links.unsubscribe(found.id), token)
        return f"{line} (subscriber {found.id} stays subscribed until they confirm)"

    def _subscribe(self, sender: str | None, list_id: int) -> str:
        if sender is None:
            return "subscribe: no sender address, nothing changed"
        try:
            # The same consent as the list's subscribe page: pending until the mailbox confirms.
            result = self._services.subscriptions.subscribe(sender, source="email", now=self._now(), list_id=list_id)
        except InvalidAddress as exc:
            return f"subscribe: {sender} not subscribed: {exc}"
        except ConfirmationNotSent as exc:  # the reader is pending; a sign-up again re-sends (at most 3)
            return f"subscribe: subscriber pending, {exc}"
        to_list = "" if list_id == FIRST_LIST_ID else f" (list {list_id})"
        if result.outcome is SubscribeOutcome.CONFIRMATION_SENT:
            return f"subscribe: confirmation sent to subscriber {result.subscriber_id}{to_list}"
        return f"subscribe: {result.outcome.value}{to_list}, nothing sent"

    def _confirm_reply(self, local: str) -> str:
        """A reply to a confirmation email: its Reply-To, `confirm+<token>@`, names the reader."""
        try:
            subscriber_id = self._confirm.read(local)
        except InvalidToken as exc:
            return f"confirm: {exc}, nothing changed"
        with self._services.sessions() as session:
            found = session.get(Subscriber, subscriber_id)
            email = found.email if found is not None else ""
        try:
            subscriber = self._services.subscriptions.confirm(subscriber_id, email)
        except InvalidToken as exc:
            return f"confirm: subscriber {subscriber_id}: {exc}, nothing changed"
        return f"confirm: subscriber {subscriber.id} is now {subscriber.status.value} (reply)"

    def _help(self, sender: str | None, mail_from: str) -> str:
        envelope = parseaddr(mail_from)[1]
        if sender is None or not envelope:
            return "help: no sender to answer (no From, or a null envelope sender), not answered"
        if not _same_address(envelope, sender):
            # A forged From rarely comes with its envelope sender: a reply would go to a victim.
            return f"help: envelope sender {envelope} is not the From address {sender}, not answered"
        return self._replies.help(sender)


def _same_address(a: str, b: str) -> bool:
    """Whether two addresses are the same mailbox (False if either is not an address)."""
    try:
        return normalise_email(a) == normalise_email(b)
    except InvalidAddress:
        return False
