"""The send engine: claim a batch, personalise, send through the backend, record every outcome.

It depends on two small interfaces, a DeliveryStore and a Backend (as listmonk's manager does),
and knows no SQL and no HTTP. Outcomes are recorded only after the backend has answered, and
while the rest of the claim is being sent (delivery/recorder.py): at most ``record_every`` sends
are ever without a durable outcome, so a crash repeats at most that many readers, never skips one,
whatever the claimed batch's size.

The worker's own wall clock decides nothing another worker compares: the outcome times come from
the database's clock, handed back with each claimed batch (``ClaimBatch.now``). Only intervals on
this process's monotonic clock (how often to look for retries) are its own.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from newsletter.mail.backends import Backend, BackendError, OutgoingMessage, SendResult, SendStatus
from newsletter.mail.backends.base import send_reporting
from newsletter.config import Settings
from newsletter.mail.dkim_sign import DkimSigner
from newsletter.delivery.types import Claim, ClaimBatch, DeliveryStore, DomainCount, Outcome
from newsletter.mail.links import Links
from newsletter.mail.headers import UnmailableAddress
from newsletter.mail.headers import address as envelope_address
from newsletter.mail.message import MessageTemplate, Reader, make_message_id
from newsletter.delivery.models import DeliveryStatus
from newsletter.delivery.domains import parse_domain_limits
from newsletter.delivery.pacing import BatchPlan, Pacer
from newsletter.delivery.journal import Journal, replay_orphans
from newsletter.delivery.recorder import Answered, Recorder
from newsletter.delivery.rate_limit import RateLimiter
from newsletter.render.rendered import RenderedIssue
from newsletter.mail.signed_addresses import BOUNCES, SignedAddresses
from newsletter.issues.tracking import TrackingTokens, tracked_html

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=12)
RETRY_CHECK_SECONDS = 5.0
# Outcomes go to the journal in groups of ``record_every / 2`` and to the database this often (and
# at the end of each claim): ``issues status`` moves every second, at a write per second.
DATABASE_WRITE_SECONDS = 1.0
# ``until_idle`` with nothing to claim but work left (another process's batch in flight, rows
# deferred): look again this often, so the end of a send is noticed within a second, not a poll.
IDLE_RECHECK_SECONDS = 0.1


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class RetryPolicy:
    """Exponential back-off with jitter; past max attempts or max age a temporary failure is final."""

    def __init__(self, settings: Settings, rng: random.Random | None = None) -> None:
        self._base = settings.retry_seconds
        self.max_attempts = settings.max_attempts
        self.max_age = timedelta(hours=settings.retry_max_age_hours)
        self._rng = rng or random.Random()

    def next_attempt(self, attempts: int, now: datetime) -> datetime:
        delay = timedelta(seconds=self._base * 2 ** max(attempts - 1, 0) * self._rng.uniform(0.8, 1.2))
        return now + min(delay, MAX_BACKOFF)

    def gives_up(self, claim: Claim, attempts: int, now: datetime) -> bool:
        too_old = claim.queued_at is not None and now - claim.queued_at > self.max_age
        return attempts >= self.max_attempts or too_old


def outcome_for(claim: Claim, result: SendResult, message_id: str, policy: RetryPolicy, now: datetime) -> Outcome:
    """Map a backend result onto the delivery state machine.

    ``now`` is the database's time of the batch's claim (``ClaimBatch.now``), the clock
    ``claim.queued_at`` was written with and next attempts are compared against; it is at most
    the batch's send time earlier than the answer (seconds; back-offs are minutes).
    """
    attempts = claim.attempts + 1

    def outcome(status: DeliveryStatus, reply: str = result.reply, **extra: datetime | None) -> Outcome:
        return Outcome(claim.delivery_id, claim.subscriber_id, status, attempts, result.code, reply,
                       message_id, **extra)

    if result.status is SendStatus.SENT:
        return outcome(DeliveryStatus.SENT, sent_at=now)
    if result.status is SendStatus.BOUNCED:
        return outcome(DeliveryStatus.BOUNCED)
    reply = f"possibly sent (connection lost after DATA): {result.reply}" if result.possibly_sent else result.reply
    if policy.gives_up(claim, attempts, now):
        return outcome(DeliveryStatus.FAILED, reply)
    return outcome(DeliveryStatus.DEFERRED, reply, next_attempt_at=policy.next_attempt(attempts, now))


class Worker:
    def __init__(
        self,
        store: DeliveryStore,
        backend: Backend,
        settings: Settings,
        links: Links,
        name: str | None = None,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        pacer: Pacer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._backend = backend
        self._settings = settings
        self._links = links
        self.name = name or worker_name()
        self._policy = policy or RetryPolicy(settings)
        self._limiter = limiter or RateLimiter(settings.rate_per_second, settings.rate_per_hour)
        # Per recipient domain: rows over a domain's rate wait for a slot (delivery/pacing.py).
        self._pacer = pacer or Pacer(store, parse_domain_limits(settings.domain_limits),
                                     lambda claim, now: self._policy.gives_up(claim, claim.attempts, now))
        self._clock = clock  # this process's intervals only (retry looks, lease renewals)
        self._templates: dict[int, MessageTemplate] = {}
        self._list_slugs: dict[int, str | None] = {}  # per issue: its list (None: the first) for the unsubscribe links
        self._variant_templates: dict[tuple[int, int], MessageTemplate] = {}
        self._journal_dir = settings.data_dir / "journal"
        self._journal: Journal | None = None  # opened by run(), or by the first send of run_once()
        self._cursor = 0  # keyset: the highest queued id claimed so far
        self._retries_checked = -RETRY_CHECK_SECONDS
        # Parsed once: Settings derives them from from_address on every access.
        self._sender = settings.sender_email
        self._domain = settings.mail_domain
        # The ASCII (IDNA) spelling of the domain, as for the recipient below.
        bounce_domain = envelope_address(settings.bounce_address).rpartition("@")[2]
        self._verp = SignedAddresses(settings.secret_key, bounce_domain, BOUNCES) if settings.verp else None
        self._signer = DkimSigner.from_settings(settings)  # keys read once, at start
        self._tracking = TrackingTokens(settings.secret_key)

    def _template(self, issue_id: int, variant: int | None = None) -> MessageTemplate:
        # Compiled once per issue per worker: per reader only the slots are filled.
        if variant is not None:
            return self._variant_template(issue_id, variant)
        if issue_id not in self._templates:
            self._templates[issue_id] = self._compile(issue_id, None)
        return self._templates[issue_id]

    def _variant_template(self, issue_id: int, variant: int) -> MessageTemplate:
        # An A/B test's subjects: one compiled message each (the Subject header is in the
        # compiled bytes, and DKIM signs it), made once per (issue, variant), not per reader.
        key = (issue_id, variant)
        if key not in self._variant_templates:
            self._variant_templates[key] = self._compile(issue_id, variant)
        return self._variant_templates[key]

    def _compile(self, issue_id: int, variant: int | None) -> MessageTemplate:
        body = self._store.issue_body(issue_id, variant)
        html = body.html
        if body.tracking:
            html = tracked_html(html, self._settings.base_url, self._tracking.issue_token(issue_id))
        rendered = RenderedIssue(body.subject, body.preheader, html, body.text)
        # The editor's From address and list name, as they are when the issue is compiled.
        sending = self._store.sending_settings(self._settings, issue_id)
        self._list_slugs[issue_id] = body.list_slug
        return MessageTemplate.compile(rendered, sending, signer=self._signer)

    def _message(self, claim: Claim) -> OutgoingMessage:
        template = self._template(claim.issue_id, claim.variant)
        url, mailto = self._links.unsubscribe_both(claim.subscriber_id, self._list_slugs.get(claim.issue_id))
        token = self._tracking.reader_token(claim.issue_id, claim.subscriber_id) if template.tracked else ""
        reader = Reader(email=claim.email, name=claim.name, unsubscribe_url=url, unsubscribe_mailto=mailto,
                        tracking_token=token)
        message_id = make_message_id(claim.issue_id, claim.subscriber_id, self._domain,
                                     secret_key=self._settings.secret_key, delivery_id=claim.delivery_id)
        data = template.personalise(reader, message_id)
        # The envelope uses the ASCII (IDNA) spelling of the domain, as To: does, so a relay
        # without SMTPUTF8 still takes mail for an internationalised domain.
        sender = self._verp.address(claim.delivery_id) if self._verp else self._sender
        return OutgoingMessage(sender, envelope_address(claim.email), data, message_id, claim.delivery_id,
                               no_leading_dots=True)  # a MessageTemplate's output

    def _claim(self) -> ClaimBatch:
        # Due retries and expired leases are rare: look for them every few seconds, not every
        # batch (they wait minutes for their back-off anyway), and whenever the queue looks empty.
        now = self._clock()
        # While rows wait for their domain's slot, every batch looks: slots come due at the domain's rate.
        retries = now - self._retries_checked >= RETRY_CHECK_SECONDS or self._pacer.waiting()
        if retries:
            self._retries_checked = now
            # A dead worker's journal first (the first claim looks too): the rows it sent are
            # recorded, not taken over and sent again.
            replay_orphans(self._journal_dir, self._store.record)
        size, lease = self._settings.batch_size, self._settings.lease_seconds
        batch = self._store.claim(self.name, size, lease, after_id=self._cursor, retries=retries,
                                  size=self._claim_size)
        if not batch.claims and (self._cursor or not retries):
            # Rows handed back behind the cursor (a dead backend, another worker's release):
            # one full pass from the start finds them before the worker calls itself idle.
            self._cursor = 0
            self._retries_checked = now
            batch = self._store.claim(self.name, size, lease, size=self._claim_size)
        self._cursor = batch.cursor
        return batch

    def _claim_size(self, queued: int) -> int:
        """The batch size, or near the end of a send this process's share of the ``queued`` rows
        left (not less than ``record_every``): the processes then finish together, instead of one
        sending the last full batch alone while the others wait (1.1 s of a 100k send, measured)."""
        share = -(-queued // max(self._settings.worker_processes, 1))
        return min(self._settings.batch_size, max(share, self._settings.record_every))

    def run_once(self) -> int:
        """Claim and send one batch; returns how many deliveries it handled."""
        batch = self._claim()
        claims = batch.claims
        if not claims:
            self._store.finish_issues()  # checked when the queue runs dry, not after every batch
            return 0
        now = batch.now  # the database's clock, not this machine's
        assert now is not None, "a store hands out every non-empty batch with the database's time"
        leased_at = self._clock()  # the claim's lease started no later than this
        outcomes: list[Outcome] = []
        sendable: list[tuple[Claim, OutgoingMessage]] = []
        for claim in claims:
            try:
                sendable.append((claim, self._message(claim)))
            except UnmailableAddress as exc:
                # An address no message can be built for is skipped with the reason, never sent,
                # and does not stop the batch.
                outcomes.append(Outcome(claim.delivery_id, claim.subscriber_id, DeliveryStatus.SKIPPED,
                                        claim.attempts, None, f"not sent: {exc}", None))
        pacing = self._pacer.plan([claim for claim, _ in sendable], now)
        if pacing.held:  # over their domain's rate: deferred to its next slots, not sent now
            sendable = [(claim, message) for claim, message in sendable if claim.delivery_id not in pacing.held]
            outcomes += pacing.outcomes
        if outcomes:  # skipped and held rows: decided before anything is sent
            self._store.record(self.name, outcomes, self._pacer.tally(pacing, claims, outcomes))
        if sendable:
            self._send(sendable, pacing, now, leased_at)
        return len(claims)

    def _send(self, sendable: list[tuple[Claim, OutgoingMessage]], pacing: BatchPlan, now: datetime,
              leased_at: float) -> None:
        """Send a claim's messages in one go, each outcome made durable within ``record_every``
        sends of its reply (delivery/recorder.py), so the claim stays large (cheap) while a kill
        repeats at most ``record_every`` readers."""
        lease = self._settings.lease_seconds
        index_of = {claim.delivery_id: i for i, (claim, _) in enumerate(sendable)}
        unwritten = set(range(len(sendable)))  # not yet journaled; changed by the recorder's thread only
        journal = self._open_journal()
        to_database: list[Outcome] = []
        domains: list[DomainCount] = []
        written_at = self._clock()

        def to_the_database() -> None:
            nonlocal written_at
            self._store.record(self.name, to_database, domains)
            journal.clear()
            to_database.clear()
            domains.clear()
            written_at = self._clock()

        def write(answered: Answered) -> None:
            pairs = [(sendable[i][0], sendable[i][1], result) for i, result in answered]
            outcomes = self._pacer.settle(pacing, [(claim, result) for claim, _, result in pairs], [
                outcome_for(claim, result, message.message_id, self._policy, now) for claim, message, result in pairs
            ], now)
            counts = self._pacer.tally(pacing, [c for c, _, _ in pairs], outcomes)
            journal.append(outcomes, counts)  # durable from here: a kill does not send these again
            to_database.extend(outcomes)
            domains.extend(counts)
            unwritten.difference_update(i for i, _ in answered)
            if self._clock() - written_at >= DATABASE_WRITE_SECONDS:
                to_the_database()

        def renew() -> list[int]:
            # A claim sent slower than its lease (a low rate limit, a slow relay) is renewed; rows
            # another worker took over meanwhile are not sent here.
            nonlocal leased_at
            if self._clock() - leased_at <= lease / 2:
                return []
            leased_at = self._clock()
            if to_database:  # journaled rows keep their lease until the database has them: written now
                to_the_database()
            ids = [sendable[i][0].delivery_id for i in sorted(unwritten)]
            kept = self._store.extend_lease(self.name, ids, lease)
            return [index_of[i] for i in ids if i not in kept]

        connections = self._settings.smtp_connections or 1
        recorder = Recorder(write, cap=max(self._settings.record_every, connections + 1),
                            gate=lambda: self._limiter.acquire(1), tick=renew)
        messages = [message for _, message in sendable]
        try:
            results = send_reporting(self._backend, messages, recorder, window=recorder.cap)
        except BackendError:
            # Nothing more was sent: what was answered is written, the rest goes back to the queue untouched.
            recorder.finish()
            to_the_database()
            self._store.release(self.name, [sendable[i][0].delivery_id for i in sorted(unwritten)])
            raise
        recorder.finish(results)
        to_the_database()

    def _open_journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self._journal_dir, self.name)
        return self._journal

    def close(self) -> None:
        """The journal is deleted if everything in it reached the database (else left to replay)."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def run(
        self,
        stop: threading.Event | None = None,
        drain: bool = False,
        until_idle: bool = False,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Send until stopped.

        ``drain``: return once nothing can be claimed right now (deferred rows not yet due wait).
        ``until_idle``: return once no delivery is queued, leased or deferred at all.
        A dead backend is retried with back-off (``drain`` raises instead); a lost database
        raises StoreUnavailable: the rows this worker holds come back when their lease expires.
        """
        stop = stop or threading.Event()
        self._open_journal()  # a journal it cannot keep stops the worker before it claims a row
        try:
            return self._run(stop, drain, until_idle, on_batch)
        finally:
            self.close()

    def _run(self, stop: threading.Event, drain: bool, until_idle: bool,
             on_batch: Callable[[int], None] | None) -> int:
        total = 0
        backoff = self._settings.worker_poll_seconds
        while not stop.is_set():
            try:
                handled = self.run_once()
            except BackendError as exc:
                if drain:
                    raise
                log.error("backend unavailable, deliveries stay queued; retrying in %.0f s: %s", backoff, exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 300)
                continue
            backoff = self._settings.worker_poll_seconds
            total += handled
            if handled and on_batch:
                on_batch(handled)
            if not handled:
                if drain or (until_idle and not self._store.has_work()):
                    break
                poll = self._settings.worker_poll_seconds
                stop.wait(self._pacer.idle_wait(min(poll, IDLE_RECHECK_SECONDS) if until_idle else poll))
        return total
