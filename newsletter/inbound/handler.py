"""Mail sent to the list's own domain: commands (unsubscribe, subscribe, confirm, help) and
reports (bounces and complaints, read by `inbound_reports`).

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
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError

from newsletter.errors import Unavailable
from newsletter.db.engine import DatabaseUnavailable
from newsletter.delivery.types import StoreUnavailable
from newsletter.mail.backends import BackendError
from newsletter.readers.addresses import InvalidAddress, normalise_email
from newsletter.mail.backends import SendStatus
from newsletter.inbound.bounces import classify_message
from newsletter.config import Settings
from newsletter.inbound.reports import ReportReader
from newsletter.mail.message import build_simple_message
from newsletter.mail.one_off import send_one_off
from newsletter.readers.models import Subscriber
from newsletter.services import Services
from newsletter.mail.signed_addresses import BOUNCES, CONFIRM, SignedAddresses
from newsletter.readers.subscriptions import ConfirmationNotSent, SubscribeOutcome
from newsletter.mail.tokens import InvalidToken

log = logging.getLogger(__name__)

UNSUBSCRIBE = frozenset({"unsubscribe", "leave"})
SUBSCRIBE = frozenset({"subscribe", "join"})
HELP = frozenset({"help"})
REPORTS = frozenset({BOUNCES, "postmaster", "abuse"})

_TOKEN_RE = re.compile(r"^\s*(?:re:\s*)?unsubscribe\s+(\S+)", re.IGNORECASE)


def _action_of(local: str) -> str | None:
    """Which kind of address a local part is, or None if it is not one of ours."""
    base, plus, _ = local.lower().partition("+")
    if plus:  # only the signed addresses carry a token
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
    def __init__(self, services: Services) -> None:
        self._services = services
        self._domain = services.settings.mail_domain.lower()
        self._reports = ReportReader(services)
        self._confirm = SignedAddresses(services.settings.secret_key, services.settings.mail_domain, CONFIRM)

    @property
    def settings(self) -> Settings:
        return self._services.settings

    def accepts(self, rcpt: str) -> bool:
        """Whether mail for this address is ours to read (the SMTP server refuses the rest)."""
        local, _, domain = rcpt.strip().strip("<>").rpartition("@")
        return domain.lower() == self._domain and _action_of(local) is not None

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
            key = action if action not in ("report", "confirm") else local.lower()
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
                lines.append(self._subscribe(sender))
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
                subscriber = self._services.subscriptions.unsubscribe(subscriber_id, via="by email (List-Unsubscribe mailto)")
            except InvalidToken:
                return "unsubscribe: invalid token, nothing changed"
            return f"unsubscribe: subscriber {subscriber.id} is now {subscriber.status.value} (token)"
        if sender is None:
            return "unsubscribe: no sender address, nothing changed"
        found = self._find(sender)
        if found is None:
            return f"unsubscribe: {sender} is not a subscriber, nothing changed"
        subscriber = self._services.subscriptions.unsubscribe(found.id, via="by email to the unsubscribe address")
        return f"unsubscribe: subscriber {subscriber.id} is now {subscriber.status.value} (from address)"

    def _subscribe(self, sender: str | None) -> str:
        if sender is None:
            return "subscribe: no sender address, nothing changed"
        try:
            result = self._services.subscriptions.subscribe(sender, source="email")
        except InvalidAddress as exc:
            return f"subscribe: {sender} not subscribed: {exc}"
        except ConfirmationNotSent as exc:  # the reader is pending; a sign-up again re-sends (at most 3)
            return f"subscribe: subscriber pending, {exc}"
        if result.outcome is SubscribeOutcome.CONFIRMATION_SENT:
            return f"subscribe: confirmation sent to subscriber {result.subscriber_id}"
        return f"subscribe: {result.outcome.value}, nothing sent"

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
        if sender is None or not parseaddr(mail_from)[1]:
            return "help: no sender to answer (null envelope sender), not answered"
        settings = self._services.settings
        domain = settings.mail_domain
        text = (
            f"{settings.list_name}: commands by email\n\n"
            f"  unsubscribe@{domain} (or leave@)  stop receiving the newsletter\n"
            f"  subscribe@{domain} (or join@)     subscribe (you will be asked to confirm)\n"
            f"  help@{domain}                     this message\n\n"
            f"Web: {settings.base_url}\n"
        )
        try:
            message_id, data = build_simple_message(
                settings, to_email=sender, to_name="", subject=f"{settings.list_name}: help",
                text=text, html=None, headers={"Auto-Submitted": "auto-replied"},
            )
            result = send_one_off(self._services.backend, settings, sender, message_id, data)
        except (ValueError, BackendError) as exc:  # an address no header can carry; the backend is down
            return f"help: reply to {sender} failed: {exc}"
        if result.status is not SendStatus.SENT:
            return f"help: reply to {sender} refused: {result.code} {result.reply}"
        return f"help: replied to {sender}"
