"""The send engine: claim a batch, personalise, send through the backend, record every outcome.

It depends on two small interfaces, a DeliveryStore and a Backend (as listmonk's manager does),
and knows no SQL and no HTTP.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from newsletter.backends import Backend, BackendError, OutgoingMessage, SendResult, SendStatus
from newsletter.config import Settings
from newsletter.dispatch_types import Claim, DeliveryStore, Outcome
from newsletter.links import Links
from newsletter.message import MessageTemplate, Reader, make_message_id
from newsletter.models import DeliveryStatus, utcnow
from newsletter.render import RenderedIssue

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=12)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class RetryPolicy:
    """Exponential back-off with jitter; after max_attempts a temporary failure becomes final."""

    def __init__(self, settings: Settings, rng: random.Random | None = None) -> None:
        self._base = settings.retry_base_seconds
        self.max_attempts = settings.max_attempts
        self._rng = rng or random.Random()

    def next_attempt(self, attempts: int, now: datetime) -> datetime:
        delay = timedelta(seconds=self._base * 2 ** max(attempts - 1, 0) * self._rng.uniform(0.8, 1.2))
        return now + min(delay, MAX_BACKOFF)


def outcome_for(claim: Claim, result: SendResult, message_id: str, policy: RetryPolicy, now: datetime) -> Outcome:
    """Map a backend result onto the delivery state machine."""
    attempts = claim.attempts + 1
    reply = result.reply
    if result.status is SendStatus.SENT:
        return Outcome(claim.delivery_id, claim.subscriber_id, DeliveryStatus.SENT, attempts, result.code,
                       reply, message_id, sent_at=now)
    if result.status is SendStatus.BOUNCED:
        return Outcome(claim.delivery_id, claim.subscriber_id, DeliveryStatus.BOUNCED, attempts, result.code,
                       reply, message_id)
    if result.possibly_sent:
        reply = f"possibly sent (connection lost after DATA): {reply}"
    if attempts >= policy.max_attempts:
        return Outcome(claim.delivery_id, claim.subscriber_id, DeliveryStatus.FAILED, attempts, result.code,
                       reply, message_id)
    return Outcome(claim.delivery_id, claim.subscriber_id, DeliveryStatus.DEFERRED, attempts, result.code,
                   reply, message_id, next_attempt_at=policy.next_attempt(attempts, now))


class Worker:
    def __init__(
        self,
        store: DeliveryStore,
        backend: Backend,
        settings: Settings,
        links: Links,
        name: str | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._store = store
        self._backend = backend
        self._settings = settings
        self._links = links
        self.name = name or worker_name()
        self._policy = policy or RetryPolicy(settings)
        self._templates: dict[int, MessageTemplate] = {}

    def _template(self, issue_id: int) -> MessageTemplate:
        # Compiled once per issue per worker: per reader only the slots are filled.
        if issue_id not in self._templates:
            body = self._store.issue_body(issue_id)
            rendered = RenderedIssue(body.subject, body.preheader, body.html, body.text)
            self._templates[issue_id] = MessageTemplate.compile(rendered, self._settings)
        return self._templates[issue_id]

    def _message(self, claim: Claim) -> OutgoingMessage:
        reader = Reader(
            email=claim.email,
            name=claim.name,
            unsubscribe_url=self._links.unsubscribe(claim.subscriber_id),
            unsubscribe_mailto=self._links.unsubscribe_mailto(claim.subscriber_id),
        )
        message_id = make_message_id(claim.issue_id, claim.subscriber_id, self._settings.mail_domain)
        data = self._template(claim.issue_id).personalise(reader, message_id)
        return OutgoingMessage(self._settings.sender_email, claim.email, data, message_id, claim.delivery_id)

    def run_once(self) -> int:
        """Claim and send one batch; returns how many deliveries it handled."""
        claims = self._store.claim(self.name, self._settings.batch_size, self._settings.lease_seconds)
        if not claims:
            return 0
        now = utcnow()
        outcomes: list[Outcome] = []
        sendable: list[tuple[Claim, OutgoingMessage]] = []
        for claim in claims:
            try:
                sendable.append((claim, self._message(claim)))
            except ValueError as exc:
                # An address no message can be built for: final, and it must not stop the batch.
                outcomes.append(Outcome(claim.delivery_id, claim.subscriber_id, DeliveryStatus.FAILED,
                                        claim.attempts + 1, None, f"cannot build the message: {exc}", None))
        try:
            results = self._backend.send([message for _, message in sendable]) if sendable else []
        except BackendError:
            # Nothing was sent: the rows go back to the queue untouched, for the next attempt.
            self._store.release(self.name, [claim.delivery_id for claim, _ in sendable])
            self._store.record(self.name, outcomes)
            raise
        outcomes += [
            outcome_for(claim, result, message.message_id, self._policy, now)
            for (claim, message), result in zip(sendable, results, strict=True)
        ]
        self._store.record(self.name, outcomes)
        self._store.finish_issues()
        return len(claims)

    def run(
        self,
        stop: threading.Event | None = None,
        drain: bool = False,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Send until stopped; with ``drain``, return once nothing is left to claim right now."""
        stop = stop or threading.Event()
        total = 0
        while not stop.is_set():
            try:
                handled = self.run_once()
            except BackendError as exc:
                log.error("backend unavailable, deliveries stay queued: %s", exc)
                if drain:
                    raise
                stop.wait(self._settings.worker_poll_seconds * 5)
                continue
            total += handled
            if handled and on_batch:
                on_batch(handled)
            if not handled:
                if drain:
                    break
                stop.wait(self._settings.worker_poll_seconds)
        return total

