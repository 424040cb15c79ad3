"""Delivering the outbox: claim due messages, POST them signed, record each outcome.

- **Claim**: due ``pending`` messages of enabled endpoints, ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL; the ``UPDATE`` that leases them re-checks that each is still due (a compare-and-set,
  which is the whole guard on SQLite). The lease pushes ``next_attempt_at`` on by
  ``LEASE_SECONDS``: a deliverer that dies mid-POST leaves its messages due again then.
- **Send**: Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``, ``webhook-signature:
  v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, signed by the ``standardwebhooks`` package),
  to an address checked just now (``safe_fetch``: the connection goes to the checked address), no
  redirects followed, ``TIMEOUT`` seconds.
- **Record**: 2xx delivered; any other answer or a network error is retried after ``BACKOFF``
  (the specification's schedule), then failed. Each attempt is a row of the endpoint's log.

Times compared and written are the database's clock, or ``now`` when the caller passes one (tests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import ColumnElement, insert, literal, select, update
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook

from newsletter.db.sql import table_of
from newsletter.content.sources.safe_fetch import DEFAULT_PORTS, AddressPolicy
from newsletter.content.sources.feeds import FeedError
from newsletter.db.base import UTCDateTime, utcnow
from newsletter.delivery.db_clock import db_now
from newsletter.webhooks.models import MessageStatus, WebhookAttempt, WebhookEndpoint, WebhookMessage

log = logging.getLogger(__name__)

# Seconds before the 2nd, 3rd, ... 7th attempt (Standard Webhooks' suggested schedule); the 7th
# failure is final.
BACKOFF = (5, 300, 1800, 7200, 18000, 36000)
MAX_ATTEMPTS = len(BACKOFF) + 1
TIMEOUT = 10.0
LEASE_SECONDS = 120  # longer than a POST can take (TIMEOUT per address tried)
BATCH = 50
PARALLEL = 4
USER_AGENT = "newsletter-webhooks/1"
ERROR_MAX = 500


@dataclass(frozen=True)
class Due:
    id: int
    msg_id: str
    payload: str
    attempts: int
    url: str
    secret: str


@dataclass(frozen=True)
class Answer:
    code: int | None  # the HTTP status, None when no answer came
    error: str  # "" on 2xx
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


@dataclass
class DeliverReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


Poster = Callable[[Due, AddressPolicy], Answer]


def clock(dialect: str, now: datetime | None, plus: float = 0) -> ColumnElement[datetime]:
    if now is None:
        return db_now(dialect, int(plus))
    return literal(now + timedelta(seconds=plus), UTCDateTime())


def claim(sessions: sessionmaker[Session], limit: int = BATCH, now: datetime | None = None) -> list[Due]:
    """Lease up to ``limit`` due messages (oldest due first)."""
    m, e = table_of(WebhookMessage), table_of(WebhookEndpoint)
    with sessions.begin() as session:
        conn = session.connection()
        dialect = conn.dialect.name
        due = (m.c.status == MessageStatus.PENDING.value) & (m.c.next_attempt_at <= clock(dialect, now))
        enabled = select(e.c.id).where(e.c.enabled)
        ids = list(conn.scalars(
            select(m.c.id).where(due, m.c.endpoint_id.in_(enabled))
            .order_by(m.c.next_attempt_at, m.c.id).limit(limit).with_for_update(skip_locked=True)
        ))
        if not ids:
            return []
        leased = conn.execute(
            update(m).where(m.c.id.in_(ids), due)  # still due: nobody leased it in between
            .values(next_attempt_at=clock(dialect, now, LEASE_SECONDS))
            .returning(m.c.id, m.c.msg_id, m.c.payload, m.c.attempts, m.c.endpoint_id)
        ).all()
        endpoints = {row.id: (row.url, row.secret) for row in conn.execute(
            select(e.c.id, e.c.url, e.c.secret).where(e.c.id.in_({r.endpoint_id for r in leased})))}
    return sorted((Due(r.id, r.msg_id, r.payload, r.attempts, *endpoints[r.endpoint_id]) for r in leased),
                  key=lambda d: d.id)


def signed_headers(due: Due, at: datetime) -> dict[str, str]:
    return {
        "webhook-id": due.msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(due.secret).sign(due.msg_id, at, due.payload),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def post(due: Due, policy: AddressPolicy) -> Answer:
    """POST the message to its endpoint's checked address; never raises for the endpoint's faults."""
    started = time.monotonic()

    def answer(code: int | None, error: str) -> Answer:
        return Answer(code, error[:ERROR_MAX], int((time.monotonic() - started) * 1000))

    try:
        url = httpx.URL(due.url)
        host = url.raw_host.decode("ascii")
        port = url.port or DEFAULT_PORTS[url.scheme]
        addresses = policy.addresses(host, port)  # checked now: the name may point elsewhere since
    except FeedError as exc:
        return answer(None, str(exc).replace("NEWSLETTER_SOURCES_ALLOW_PRIVATE", "NEWSLETTER_WEBHOOKS_ALLOW_PRIVATE"))
    except (httpx.InvalidURL, UnicodeError, ValueError, KeyError) as exc:
        return answer(None, f"not a valid URL: {exc}")
    body = due.payload.encode()
    headers = signed_headers(due, utcnow())
    # trust_env off: a proxy would resolve the name past our check; no keep-alive across names.
    with httpx.Client(follow_redirects=False, trust_env=False, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        failure = "no address to try"
        for address in addresses:
            request = client.build_request(
                "POST", url.copy_with(host=str(address)), content=body,
                headers={**headers, "Host": url.netloc.decode("ascii")},
                extensions={"sni_hostname": host} if url.scheme == "https" else {}, timeout=TIMEOUT,
            )
            try:
                response = client.send(request)
            except httpx.ConnectError as exc:
                failure = f"could not connect to {host}: {exc or type(exc).__name__}"
                continue
            except httpx.TimeoutException:
                return answer(None, f"no answer from {host} within {TIMEOUT:g} s")
            except httpx.HTTPError as exc:
                return answer(None, f"{host}: {exc or type(exc).__name__}")
            reason = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code} {response.reason_phrase}"
            return answer(response.status_code, reason.rstrip())
    return answer(None, failure)


def record(sessions: sessionmaker[Session], due: Due, result: Answer, now: datetime | None = None) -> MessageStatus:
    """The attempt's row and the message's new state, in one transaction."""
    m = table_of(WebhookMessage)
    attempts = due.attempts + 1
    with sessions.begin() as session:
        conn = session.connection()
        dialect = conn.dialect.name
        if result.ok:
            status, values = MessageStatus.DELIVERED, {"delivered_at": clock(dialect, now), "next_attempt_at": None}
        elif attempts >= MAX_ATTEMPTS:
            status, values = MessageStatus.FAILED, {"next_attempt_at": None}
        else:
            status, values = MessageStatus.PENDING, {"next_attempt_at": clock(dialect, now, BACKOFF[attempts - 1])}
        conn.execute(update(m).where(m.c.id == due.id).values(
            status=status.value, attempts=attempts, last_code=result.code, last_error=result.error[:ERROR_MAX],
            **values))
        conn.execute(insert(table_of(WebhookAttempt)).values(
            message_id=due.id, attempted_at=clock(dialect, now), code=result.code, error=result.error[:ERROR_MAX],
            duration_ms=result.duration_ms))
    return status


def deliver_due(sessions: sessionmaker[Session], *, allow_private: bool, now: datetime | None = None,
                limit: int = BATCH, poster: Poster = post) -> DeliverReport:
    """One pass: claim what is due, POST it (a few at a time), record the outcomes."""
    report = DeliverReport()
    batch = claim(sessions, limit, now)
    if not batch:
        return report
    policy = AddressPolicy(allow_private=allow_private)
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(batch)), thread_name_prefix="webhook") as pool:
        answers = list(pool.map(lambda due: poster(due, policy), batch))
    for due, result in zip(batch, answers, strict=True):
        status = record(sessions, due, result, now)
        if status is MessageStatus.DELIVERED:
            report.delivered += 1
        elif status is MessageStatus.FAILED:
            report.failed += 1
            log.warning("webhook %s to %s failed for good: %s", due.msg_id, due.url, result.error)
        else:
            report.retrying += 1
    return report
