"""Normalized provider events applied to readers: through the same `readers.standing` rules as a
DSN or an ARF report mailed back (`inbound.reports`), once per (provider, event id).

Whom an event is about: where it carries the Message-ID we sent (`issue-N.reader-M.d-<token>@`)
and its token verifies, that delivery's reader (and the delivery is marked bounced after sending,
as `inbound.reports` does); otherwise the reader whose address the provider names. The provider
itself was verified by the caller (its signature, key or credentials): it is our relay, set up by
the owner, so the address it names is believed.

A request's events, their idempotency rows and (for Mailgun) its signing token commit in one
transaction: a repeat changes nothing, and a dead database leaves nothing half done for the
provider's retry. A signing token is also remembered with the events it carried (a digest, under
``<provider>-retry``), so that the provider's exact retry of a request whose answer it lost is
answered 2xx, not refused as a replay.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from newsletter.db.sql import insert_for
from newsletter.db.base import utcnow
from newsletter.db.engine import DatabaseUnavailable
from newsletter.delivery.models import Delivery
from newsletter.inbound.providers.events import ForgedEvent, OneTimeToken, ProviderEvent, ProviderUnavailable
from newsletter.inbound.providers.models import SeenProviderEvent
from newsletter.inbound.reports import hard_bounce_after_sending
from newsletter.inbound.unverified import record_unverified
from newsletter.mail.signed_addresses import MESSAGE_ID, SignedAddresses
from newsletter.mail.tokens import InvalidToken
from newsletter.readers.models import Subscriber
from newsletter.readers.leaving import end_subscription
from newsletter.readers.standing import complained, soft_bounced
from newsletter.services import Services

_OUR_MESSAGE_ID = re.compile(r"\bissue-\d{1,19}\.reader-\d{1,19}\.d-([0-9a-f]{1,16}-[a-z2-7]{16})@", re.I)
HARD_REJECTS = ("bounced", "invalid")  # the provider would not send: the address bounced before, or is no address
# Ignored events the owner may want to see (`bounces unverified`): the provider would not send,
# failed, or sent something we cannot read. Routine ones (delivered, opened, ...) are not kept.
KEPT_WHEN_IGNORED = ("rejected", "failed", "unknown")
TOKEN_KEEP = timedelta(days=1)  # Mailgun tokens are refused when older than minutes: a day of them is plenty


@dataclass(frozen=True)
class _Reader:
    subscriber_id: int
    email: str
    delivery_id: int | None = None


def acts_on(event: ProviderEvent) -> bool:
    """Whether the event changes a reader's standing (the rest are answered 2xx and dropped)."""
    if event.event_type == "rejected":
        return event.reject_reason in HARD_REJECTS
    if event.event_type == "bounced":
        return event.bounce_kind is not None  # without one (Postmark's VirusNotification) it says nothing of the address
    return event.event_type in ("complained", "unsubscribed")


class EventApplier:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._message_ids = SignedAddresses(services.settings.secret_key, "", MESSAGE_ID)

    def apply(self, events: Sequence[ProviderEvent], token: OneTimeToken | None = None) -> list[str]:
        """Apply a verified request's events; what was done, a line each. ``token``, the one the
        request was signed with, is refused (ForgedEvent) if it was used before, unless this is
        the exact retry of that request: then nothing changes."""
        try:
            with self._services.sessions.begin() as session:
                if token is not None and _a_retry(session, token, events):
                    return [f"{_what(event)}: a retry of event {event.event_id}, already applied, nothing changed"
                            for event in events]
                return [self._one(session, event) for event in events]
        except (OperationalError, InterfaceError) as exc:
            raise ProviderUnavailable(f"database unavailable: {exc.orig}") from exc
        except DatabaseUnavailable as exc:
            raise ProviderUnavailable(str(exc)) from exc

    def _one(self, session: Session, event: ProviderEvent) -> str:
        what = _what(event)
        if not acts_on(event):
            if event.event_type in KEPT_WHEN_IGNORED:
                _keep(session, event, "not acted on")
            return f"{what}: ignored"
        reader = self._reader_of(session, event)
        if reader is None:
            _keep(session, event, "no reader with this address")
            return f"{what}: no such reader, nothing changed"
        if not _insert_seen(session, event.provider, event.event_id):
            return f"{what}: event {event.event_id} already applied, nothing changed"
        if event.event_type == "complained":
            complained(session, self._services.suppression, reader.subscriber_id, event.description or "abuse")
            return f"{what}: complained, unsubscribed and suppressed"
        if event.event_type == "unsubscribed":
            return f"{what}: {_unsubscribe(session, reader.subscriber_id, f'via {event.provider}')}"
        if event.bounce_kind == "soft":
            counted = soft_bounced(session, reader.subscriber_id, event.detail)
            return f"{what}: soft bounce counted ({counted.recent})" + (", suspended" if counted.suspended else "")
        hard_bounce_after_sending(session, self._services.suppression, reader.subscriber_id, reader.delivery_id,
                                  event.detail)
        return f"{what}: hard bounce, bounced and suppressed"

    def _reader_of(self, session: Session, event: ProviderEvent) -> _Reader | None:
        found = _OUR_MESSAGE_ID.search(event.message_id)
        if found:
            try:
                delivery_id = self._message_ids.read_token(found.group(1))
            except InvalidToken:
                delivery_id = None  # another sender's mail through the same account: go by the address
            if delivery_id is not None:
                row = session.execute(
                    select(Subscriber.id, Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
                    .where(Delivery.id == delivery_id)
                ).first()
                if row is not None:
                    return _Reader(row.id, row.email, delivery_id)
        address = event.recipient.strip().lower()
        if not address:
            return None
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == address))
        return None if subscriber_id is None else _Reader(subscriber_id, address)


def _what(event: ProviderEvent) -> str:
    return f"{event.provider} {event.event_type} {event.recipient or '(no address)'}"


def _keep(session: Session, event: ProviderEvent, why: str) -> None:
    # Kept with the inbound reports that changed nothing; the table is bounded (unverified.KEEP).
    record_unverified(session, event.event_type, f"/webhooks/{event.provider}",
                      [event.recipient] if event.recipient else [],
                      f"{why}: {event.provider} event {event.event_id}: {event.detail}")


def _a_retry(session: Session, token: OneTimeToken, events: Sequence[ProviderEvent]) -> bool:
    """False when the token is new (it is used up now, with the events it carries); True when the
    request is the exact retry of an applied one (same token, same events); else ForgedEvent."""
    provider = token.provider.split("-")[0]
    retry_key = f"{provider}-retry"
    signed = "sha256:" + hashlib.sha256(
        "\n".join([token.value, *(event.event_id for event in events)]).encode()).hexdigest()
    session.execute(delete(SeenProviderEvent).where(
        SeenProviderEvent.provider.in_((token.provider, retry_key)), SeenProviderEvent.received_at < utcnow() - TOKEN_KEEP))
    if token.fresh and _insert_seen(session, token.provider, token.value):
        _insert_seen(session, retry_key, signed)
        return False
    # Where the insert found the token, a concurrent first use had committed (PostgreSQL waited for it).
    if session.scalar(select(SeenProviderEvent.event_id).where(
            SeenProviderEvent.provider == retry_key, SeenProviderEvent.event_id == signed)) is not None:
        return True
    if not token.fresh:
        raise ForgedEvent(f"the {provider} timestamp is stale")
    raise ForgedEvent(f"{provider} token already used (a replayed request)")


def _insert_seen(session: Session, provider: str, event_id: str) -> bool:
    """Insert the idempotency row; False if it was there (a concurrent twin waits for our commit)."""
    # RETURNING, not rowcount: psycopg's rowcount is not 0 for a row the conflict skipped.
    inserted = session.scalar(
        insert_for(session)(SeenProviderEvent).values(provider=provider, event_id=event_id, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["provider", "event_id"]).returning(SeenProviderEvent.event_id)
    )
    return inserted is not None


def _unsubscribe(session: Session, subscriber_id: int, via: str) -> str:
    # A provider's unsubscribe is from everything we send through it: every list.
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or not end_subscription(session, subscriber, via, None):
        return "not subscribed, nothing changed"
    return "unsubscribed"
