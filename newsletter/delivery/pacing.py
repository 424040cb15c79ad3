"""Per-domain pacing: how fast each recipient domain group is sent to, shared by every worker.

A domain group is the domains one provider's mail servers take (gmail.com and googlemail.com are
one group). A group with a limit (``NEWSLETTER_DOMAIN_LIMITS``) is paced by a token bucket kept
as a time, ``next_slot``, in the ``domain_pace`` row every worker shares through the database
(the one clock, and the one shared place): each batch takes the slots it sends in by one
compare-and-set, so processes on several machines take their share of one rate, not each the
whole rate. Rows over the group's budget are not sent: they are deferred to a slot at the end
of the group's line (``booked_until``), without using a retry attempt, and come back due at the
group's rate. Every other group keeps full speed: a batch's other rows go out as usual.

Adaptive back-off (additive increase, multiplicative decrease): a 421, or a 4.7.x reply, that
says "rate", "try again later", "too many" (the words Gmail, Yahoo and Outlook use when they
throttle) halves the group's rate and pauses it, the pause doubling while throttles follow
each other; the refused rows and the group's rows in the batch that never got a reply are
deferred behind the pause, again without using a retry attempt (a throttled domain must finish;
the delivery's maximum age still bounds it). The rate then recovers by 10 % of the limit a
minute. A domain without a limit that throttles is paced the same way from then on, up to
UNLISTED_CEILING, until it has recovered and stayed quiet.

Everything here is pure but the ``Pacer``, which reads and writes the state through a PaceStore
and reads this process's monotonic clock (injected) only for how often to refresh it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from newsletter.delivery.domains import domain_group, is_throttle
from newsletter.delivery.models import DeliveryStatus
from newsletter.delivery.types import Claim, DomainCount, Outcome, PaceChange, PaceState, PaceStore
from newsletter.mail.backends.base import SendResult, SendStatus

log = logging.getLogger(__name__)

# A batch sends at most this much of a group's rate at once: a second's worth, or the time since
# the worker's previous batch if longer (up to MAX_BURST), so a worker whose batches take longer
# than a second still sends at the group's rate instead of booking its due rows again.
BURST = timedelta(seconds=1)
MAX_BURST = timedelta(seconds=5)
RECOVERY_PER_MINUTE = 0.10  # of the limit: the additive increase after a halving
MIN_RATE = 0.2  # messages per second: halving stops here (one message every 5 s)
BASE_PAUSE = timedelta(seconds=2)  # the first throttle's pause; each one in a row doubles it
MAX_PAUSE = timedelta(minutes=5)
QUIET = timedelta(minutes=10)  # no throttle for this long: the strikes are forgotten
UNLISTED_CEILING = 20.0  # a domain without a limit that throttles is paced up to this
RETRY_SOON = timedelta(seconds=1)  # a row another group's refusals kept from being tried
STATE_REFRESH_SECONDS = 5.0  # how often a worker reads what other workers did to the groups
PACED_POLL_SECONDS = 0.2  # how often an idle worker looks for rows due while a line waits


# -- the pure rules ---------------------------------------------------------------------------


def new_state(domain: str, ceiling: float, now: datetime) -> PaceState:
    return PaceState(domain, ceiling, ceiling, now, now, now)


def current_rate(state: PaceState, now: datetime) -> float:
    """The rate now: the rate of the last halving plus 10 % of the ceiling per minute since."""
    minutes = max((now - state.changed_at).total_seconds(), 0.0) / 60
    return min(state.ceiling, state.rate + state.ceiling * RECOVERY_PER_MINUTE * minutes)


def recovered(state: PaceState, now: datetime) -> bool:
    """Back at its ceiling, no throttle for a while and no row waiting for a slot."""
    return (current_rate(state, now) >= state.ceiling and now - state.changed_at >= QUIET
            and state.booked_until <= now)


def with_ceiling(state: PaceState, ceiling: float) -> PaceState:
    """The configured limit wins over a stored one (a changed setting); never above it."""
    if state.ceiling == ceiling:
        return state
    return replace(state, ceiling=ceiling, rate=min(state.rate, ceiling))


@dataclass(frozen=True, slots=True)
class Slots:
    """A group's decision for one batch: rows to send now, and each other row's slot."""

    send: list[int]
    later: dict[int, datetime]


def admit(state: PaceState, now: datetime, due: Sequence[int], fresh: Sequence[int],
          burst: timedelta = BURST) -> tuple[PaceState, Slots]:
    """Take slots for a batch's rows of one group.

    ``due``: rows that were deferred (their slot has come, or a retry), first in line. ``fresh``:
    rows claimed from the queue; while other rows wait in the line they queue behind them.
    A row is sent when its slot falls within ``burst`` of now; every other row gets the next slot
    at the end of the line.
    """
    step = timedelta(seconds=1 / current_rate(state, now))
    start = max(state.next_slot, now, state.paused_until or now)
    waiting = state.booked_until > now
    line = [*due, *(() if waiting else fresh)]
    send: list[int] = []
    for row in line:
        if start >= now + burst:
            break
        send.append(row)
        start += step
    rest = [*line[len(send):], *(fresh if waiting else ())]
    end = max(state.booked_until, start)
    later: dict[int, datetime] = {}
    for row in rest:
        later[row] = end
        end += step
    return replace(state, next_slot=start, booked_until=end), Slots(send, later)


def throttle(state: PaceState, now: datetime, refused: Sequence[int]) -> tuple[PaceState, dict[int, datetime]]:
    """The group refused us for sending too fast: halve its rate and pause it, and book the
    ``refused`` rows behind the pause.

    A throttle reported while the group is paused is an echo of the one that paused it (a batch
    in flight at another worker): it books its rows but does not halve again.
    """
    if state.paused_until is None or now >= state.paused_until:
        strikes = state.strikes + 1 if now - state.changed_at < QUIET else 1
        pause = min(BASE_PAUSE * 2 ** (strikes - 1), MAX_PAUSE)
        state = replace(state, rate=max(MIN_RATE, current_rate(state, now) / 2), changed_at=now,
                        paused_until=now + pause, strikes=strikes, next_slot=max(state.next_slot, now + pause))
    step = timedelta(seconds=1 / current_rate(state, now))
    end = max(state.booked_until, state.next_slot)
    slots: dict[int, datetime] = {}
    for row in refused:
        slots[row] = end
        end += step
    return replace(state, booked_until=end), slots


# -- the worker's side ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What pacing decided for one batch before it was sent."""

    groups: dict[int, str]  # delivery id -> group, for the paced groups' rows (settle adds throttled ones)
    held: frozenset[int]  # delivery ids not sent now
    outcomes: list[Outcome]  # the held rows' outcomes (deferred to their slot)


Decided = tuple[datetime, dict[str, PaceState], dict[int, datetime]]  # time, new states, slots of held rows


class Pacer:
    """Applies the rules to a worker's batches; the state lives in the PaceStore.

    ``gives_up(claim, now)``: the retry policy's verdict on a row deferred without an attempt
    (too old); ``clock``: this process's monotonic clock, only for how often to refresh.
    """

    def __init__(
        self,
        store: PaceStore,
        limits: Mapping[str, float],
        gives_up: Callable[[Claim, datetime], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._limits = dict(limits)
        self._gives_up = gives_up
        self._clock = clock
        self._known: dict[str, PaceState] = {}  # every stored group, as last seen
        self._known_at: datetime | None = None  # the database's time they were read at
        self._refreshed = -math.inf
        self._planned = -math.inf  # when the previous batch was planned (the clock's time)

    # -- before sending --

    def plan(self, claims: Sequence[Claim], now: datetime) -> BatchPlan:
        """Which of a batch's rows go now; the rest are deferred to their group's slots.

        ``now``: the batch's (database) time, used only if the shared state cannot be written.
        """
        self._refresh()
        since, self._planned = self._clock() - self._planned, self._clock()
        burst = min(max(BURST, timedelta(seconds=since if since < math.inf else 0)), MAX_BURST)
        paced: dict[str, list[Claim]] = {}
        for claim in claims:
            group = domain_group(claim.email)
            if group in self._limits or self._unlisted_paced(group):
                paced.setdefault(group, []).append(claim)
        if not paced:
            return BatchPlan({}, frozenset(), [])

        def change(db_now: datetime, stored: Mapping[str, PaceState]) -> tuple[dict[str, PaceState], Decided]:
            states: dict[str, PaceState] = {}
            later: dict[int, datetime] = {}
            for group, rows in paced.items():
                due = [c.delivery_id for c in rows if c.retry_at is not None]
                fresh = [c.delivery_id for c in rows if c.retry_at is None]
                states[group], slots = admit(self._state(group, stored, db_now), db_now, due, fresh, burst)
                later.update(slots.later)
            return states, (db_now, states, later)

        by_id = {c.delivery_id: c for rows in paced.values() for c in rows}
        groups = {row: domain_group(claim.email) for row, claim in by_id.items()}
        db_now, later = self._apply(sorted(paced), change, now, by_id)
        outcomes = [self._deferred(by_id[row], slot, db_now, f"paced: {groups[row]} at its rate, waiting for a slot")
                    for row, slot in later.items()]
        return BatchPlan(groups, frozenset(later), outcomes)

    # -- after sending --

    def settle(self, plan: BatchPlan, sent: Sequence[tuple[Claim, SendResult]], outcomes: list[Outcome],
               now: datetime) -> list[Outcome]:
        """The outcomes of the sent rows, with a throttling group's rows deferred behind its pause.

        ``outcomes``: the retry policy's outcome for each of ``sent``, in order; ``now``: the
        batch's (database) time. Rows that never got a reply because another group's refusals
        closed the connections are retried soon, also without using an attempt.
        """
        throttled: dict[str, list[Claim]] = {}
        for claim, result in sent:
            if result.status is SendStatus.DEFERRED and is_throttle(result.code, result.reply):
                throttled.setdefault(self._group_of(plan, claim), []).append(claim)
        if not throttled:
            return outcomes
        others: list[Claim] = []
        for claim, result in sent:
            if result.status is SendStatus.DEFERRED and result.code is None and not result.possibly_sent:
                rows = throttled.get(self._group_of(plan, claim))
                (rows if rows is not None else others).append(claim)
        for rows in throttled.values():
            plan.groups.update((c.delivery_id, domain_group(c.email)) for c in rows)

        def change(db_now: datetime, stored: Mapping[str, PaceState]) -> tuple[dict[str, PaceState], Decided]:
            states: dict[str, PaceState] = {}
            later: dict[int, datetime] = {}
            for group, rows in throttled.items():
                states[group], slots = throttle(self._state(group, stored, db_now), db_now,
                                                [c.delivery_id for c in rows])
                later.update(slots)
            return states, (db_now, states, later)

        by_id = {c.delivery_id: c for rows in throttled.values() for c in rows}
        db_now, later = self._apply(sorted(throttled), change, now, by_id)
        later.update((c.delivery_id, now + RETRY_SOON) for c in others)
        replies = {claim.delivery_id: result for claim, result in sent}
        names = ", ".join(sorted(throttled))
        changed: dict[int, Outcome] = {}
        for claim in (*by_id.values(), *others):
            reply = replies[claim.delivery_id]
            why = (f"throttled by {plan.groups[claim.delivery_id]}, deferred: {reply.code or ''} {reply.reply}"
                   if claim.delivery_id in by_id else f"not tried while {names} throttled: {reply.reply}")
            changed[claim.delivery_id] = self._deferred(claim, later[claim.delivery_id], db_now, why, reply.code)
        return [changed.get(o.delivery_id, o) for o in outcomes]

    def tally(self, plan: BatchPlan, claims: Iterable[Claim], outcomes: Sequence[Outcome]) -> list[DomainCount]:
        """What the batch adds to each paced group's sent and waiting counts, per issue."""
        if not plan.groups:
            return []
        by_id = {o.delivery_id: o for o in outcomes}
        counts: dict[tuple[int, str], list[int]] = {}
        for claim in claims:
            group = plan.groups.get(claim.delivery_id)
            outcome = by_id.get(claim.delivery_id)
            if group is None or outcome is None:
                continue
            count = counts.setdefault((claim.issue_id, group), [0, 0])
            count[0] += outcome.status is DeliveryStatus.SENT
            count[1] += (outcome.status is DeliveryStatus.DEFERRED) - (claim.retry_at is not None)
        return [DomainCount(issue, group, sent, waiting) for (issue, group), (sent, waiting) in sorted(counts.items())]

    # -- for the worker's loop --

    def waiting(self) -> bool:
        """Rows of some group wait for a slot: look for due rows every batch, not now and then."""
        now = self._known_at
        return now is not None and any(state.booked_until > now for state in self._known.values())

    def idle_wait(self, poll: float) -> float:
        """How long an idle worker sleeps: short while a line waits and its next slot is near."""
        if not self.waiting():
            return poll
        assert self._known_at is not None
        nearest = min(max(s.next_slot, s.paused_until or s.next_slot) for s in self._known.values()
                      if s.booked_until > self._known_at)
        ahead = (nearest - self._known_at).total_seconds()
        return min(poll, max(PACED_POLL_SECONDS, ahead))

    # -- internals --

    def _refresh(self) -> None:
        if self._clock() - self._refreshed < STATE_REFRESH_SECONDS:
            return
        self._refreshed = self._clock()
        self._known_at, states = self._store.pace_states()
        self._known = {s.domain: s for s in states}

    def _unlisted_paced(self, group: str) -> bool:
        state = self._known.get(group)
        return state is not None and self._known_at is not None and not recovered(state, self._known_at)

    def _group_of(self, plan: BatchPlan, claim: Claim) -> str:
        return plan.groups.get(claim.delivery_id) or domain_group(claim.email)

    def _state(self, group: str, stored: Mapping[str, PaceState], now: datetime) -> PaceState:
        limit = self._limits.get(group)
        state = stored.get(group)
        if state is None:
            return new_state(group, limit or UNLISTED_CEILING, now)
        return with_ceiling(state, limit) if limit is not None else state

    def _apply(self, groups: list[str], change: PaceChange[Decided], now: datetime,
               rows: Mapping[int, Claim]) -> tuple[datetime, dict[int, datetime]]:
        """Write the groups' new states; the held rows' slots. If other workers kept changing the
        states, every row waits a moment instead (nothing spent, nothing booked)."""
        result = self._store.update_paces(groups, change)
        if result is None:
            log.warning("pacing state of %s changed by other workers on every try; its rows wait a second",
                        ", ".join(groups))
            return now, {row: now + RETRY_SOON for row in rows}
        db_now, states, later = result
        self._known.update(states)
        self._known_at = db_now
        return db_now, later

    def _deferred(self, claim: Claim, slot: datetime, now: datetime, why: str, code: int | None = None) -> Outcome:
        """A row put off by pacing: the attempts stay as they were; only its age can end it."""
        if self._gives_up(claim, now):
            return Outcome(claim.delivery_id, claim.subscriber_id, DeliveryStatus.FAILED, claim.attempts, code,
                           f"too old to try again: {why}", None)
        return Outcome(claim.delivery_id, claim.subscriber_id, DeliveryStatus.DEFERRED, claim.attempts, code, why,
                       None, next_attempt_at=slot)
