"""Per-domain pacing's rules on a virtual clock: limits, slots, halving on a throttle, recovery.

No database and no real time here: every moment is one the test sets (the SMTP and database
test is test_pacing_smtp.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from newsletter.config import Settings
from newsletter.delivery.domains import domain_group, is_throttle, parse_domain_limits
from newsletter.delivery.models import DeliveryStatus
from newsletter.delivery.pacing import (
    BASE_PAUSE,
    MAX_PAUSE,
    QUIET,
    Pacer,
    admit,
    current_rate,
    new_state,
    throttle,
)
from newsletter.delivery.types import Claim, Outcome, PaceState
from newsletter.mail.backends import SendResult, SendStatus

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
THROTTLED = SendResult(SendStatus.DEFERRED, 421, "4.7.0 try again later")


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


# -- the setting ---------------------------------------------------------------------------------


def test_limits_are_domain_rate_pairs_per_second_minute_or_hour_and_name_the_providers_group():
    limits = parse_domain_limits("gmail.com=50/s, yahoo.com=1200/m,hotmail.com=36000/h,,example.org=0.5/s")
    assert limits == {"gmail.com": 50.0, "yahoo.com": 20.0, "outlook.com": 10.0, "example.org": 0.5}
    assert parse_domain_limits("") == {}


@pytest.mark.parametrize("bad", ["gmail.com", "gmail.com=fast", "gmail.com=50", "gmail.com=0/s", "=5/s",
                                 "gmail.com=5/d", "reader@gmail.com=5/s"])
def test_a_bad_limit_is_refused_with_the_entry_and_the_expected_form(bad):
    with pytest.raises(ValueError, match="domain limit") as refused:
        parse_domain_limits(f"yahoo.com=20/s,{bad}")
    assert bad.strip() in str(refused.value)
    with pytest.raises(ValidationError, match="domain limit"):
        Settings(domain_limits=bad)


def test_the_defaults_pace_the_big_providers():
    limits = parse_domain_limits(Settings().domain_limits)
    assert {"gmail.com", "outlook.com", "yahoo.com"} <= set(limits)
    assert all(0 < rate <= 100 for rate in limits.values())


def test_domains_of_one_provider_share_a_group():
    assert domain_group("Reader@GoogleMail.com") == "gmail.com"
    assert {domain_group(f"a@{d}") for d in ("outlook.com", "hotmail.com", "live.com", "msn.com")} == {"outlook.com"}
    assert {domain_group(f"a@{d}") for d in ("yahoo.com", "aol.com", "ymail.com")} == {"yahoo.com"}
    assert domain_group("reader@example.net") == "example.net"


@pytest.mark.parametrize(("code", "reply", "throttled"), [
    (421, "4.7.0 try again later", True),
    (421, "4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP address.", True),
    (451, "4.7.500 Server busy. Please try again later from [192.0.2.1].", True),
    (421, "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume", True),
    (421, "4.7.0 smtp.test too many connections, try later", True),
    (421, "4.3.2 Service shutting down, closing transmission channel", False),
    (451, "4.3.0 try later", False),  # not a 4.7.x: an ordinary temporary failure
    (450, "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents more", False),
    (550, "5.7.1 rate limited", False),
    (None, "connection lost: try again later", False),
])
def test_a_throttle_is_a_421_or_4_7_x_reply_about_rate_or_volume(code, reply, throttled):
    assert is_throttle(code, reply) is throttled


# -- slots ---------------------------------------------------------------------------------------


def test_a_batch_sends_one_seconds_worth_and_books_the_rest_at_the_rate():
    state = new_state("gmail.com", 20.0, T0)
    state, slots = admit(state, T0, due=[], fresh=list(range(30)))
    assert slots.send == list(range(20))
    assert list(slots.later) == list(range(20, 30))
    assert slots.later[20] == T0 + seconds(1) and slots.later[29] == T0 + seconds(1.45)

    # Fresh rows queue behind the booked ones; the booked ones go when their slot comes.
    state, slots = admit(state, T0 + seconds(0.5), due=[], fresh=[30, 31])
    assert slots.send == [] and slots.later == {30: T0 + seconds(1.5), 31: T0 + seconds(1.55)}
    state, slots = admit(state, T0 + seconds(1.5), due=list(range(20, 31)), fresh=[])
    assert slots.send == list(range(20, 31)) and not slots.later


def test_a_worker_whose_batches_are_far_apart_sends_the_time_between_them_at_the_rate():
    _, slots = admit(new_state("gmail.com", 20.0, T0), T0, due=[], fresh=list(range(50)), burst=seconds(2))
    assert len(slots.send) == 40


def test_a_throttle_halves_the_rate_pauses_the_domain_and_books_the_refused_rows_behind_the_pause():
    state = new_state("gmail.com", 40.0, T0)
    state, booked = throttle(state, T0, refused=[1, 2])
    assert current_rate(state, T0) == 20.0
    assert state.paused_until == T0 + BASE_PAUSE
    assert booked == {1: T0 + BASE_PAUSE, 2: T0 + BASE_PAUSE + seconds(0.05)}
    # Nothing goes while it is paused.
    _, slots = admit(state, T0 + seconds(1), due=[], fresh=[3])
    assert slots.send == [] and slots.later[3] >= T0 + BASE_PAUSE

    # Refusals reported during the pause are echoes of the same throttle: no second halving.
    echoed, _ = throttle(state, T0 + seconds(0.5), refused=[4])
    assert echoed.rate == state.rate and echoed.strikes == 1

    # A throttle after the pause halves again and doubles the pause, down to a floor.
    again, _ = throttle(state, T0 + seconds(3), refused=[5])
    assert again.rate == pytest.approx(current_rate(state, T0 + seconds(3)) / 2)
    assert again.paused_until == T0 + seconds(3) + 2 * BASE_PAUSE
    for _ in range(20):
        again, _ = throttle(again, again.paused_until or T0, refused=[6])
    assert again.paused_until is not None and again.paused_until - again.changed_at == MAX_PAUSE
    assert again.rate >= 0.2


def test_the_rate_recovers_by_a_tenth_of_the_limit_a_minute_and_the_strikes_are_forgotten():
    state, _ = throttle(new_state("yahoo.com", 20.0, T0), T0, refused=[])
    assert current_rate(state, T0) == 10.0
    assert current_rate(state, T0 + timedelta(minutes=1)) == pytest.approx(12.0)
    assert current_rate(state, T0 + timedelta(minutes=5)) == 20.0
    assert current_rate(state, T0 + timedelta(hours=1)) == 20.0
    later, _ = throttle(state, T0 + QUIET + seconds(1), refused=[])
    assert later.strikes == 1 and later.paused_until == T0 + QUIET + seconds(1) + BASE_PAUSE


# -- a worker's batches against a simulated provider --------------------------------------------


class MemoryPaces:
    """The PaceStore in memory, on the test's clock (compare-and-set needs no race here)."""

    def __init__(self, clock):
        self.rows: dict[str, PaceState] = {}
        self.clock = clock

    def pace_states(self):
        return self.clock(), list(self.rows.values())

    def update_paces(self, domains, change):
        states, result = change(self.clock(), {d: self.rows[d] for d in domains if d in self.rows})
        for state in states.values():
            self.rows[state.domain] = replace(state, version=state.version + 1)
        return result


class Provider:
    """A mail provider that takes at most ``per_second`` messages a second for ``domain``."""

    def __init__(self, domain: str, per_second: int) -> None:
        self.domain, self.per_second = domain, per_second
        self.accepted: list[tuple[datetime, str]] = []
        self.refused: dict[str, int] = {}

    def take(self, now: datetime, address: str) -> SendResult:
        if address.endswith("@" + self.domain):
            recent = [t for t, a in self.accepted if a.endswith("@" + self.domain) and now - t < seconds(1)]
            if len(recent) >= self.per_second:
                self.refused[address] = self.refused.get(address, 0) + 1
                return THROTTLED
        self.accepted.append((now, address))
        return SendResult(SendStatus.SENT, 250, "2.0.0 OK")


def simulate(limits: str, readers: dict[str, int], provider: Provider, batch: int = 50, tick: float = 0.05,
             until: float = 120.0):
    """Run batches every ``tick`` seconds of virtual time until every reader is sent."""
    now = T0
    paces = MemoryPaces(lambda: now)
    pacer = Pacer(paces, parse_domain_limits(limits), gives_up=lambda claim, at: False, clock=lambda: 0.0)
    queue = [Claim(i + 1, 1, i + 1, f"r{i}@{domain}", "R", queued_at=T0)
             for i, domain in enumerate(d for d, n in readers.items() for _ in range(n))]
    queue.sort(key=lambda c: (c.delivery_id % 2, c.delivery_id))  # the domains' rows interleaved
    done: dict[str, datetime] = {}
    attempts: dict[str, int] = {}
    while queue and now < T0 + seconds(until):
        due = [c for c in queue if c.retry_at is not None and c.retry_at <= now]
        fresh = [c for c in queue if c.retry_at is None]
        claims = (due + fresh)[:batch]
        plan = pacer.plan(claims, now)
        sent = [(c, provider.take(now, c.email)) for c in claims if c.delivery_id not in plan.held]
        outcomes = [Outcome(c.delivery_id, c.subscriber_id,
                            DeliveryStatus.SENT if r.status is SendStatus.SENT else DeliveryStatus.DEFERRED,
                            c.attempts + 1, r.code, r.reply, None,
                            next_attempt_at=None if r.status is SendStatus.SENT else now + seconds(300))
                    for c, r in sent]
        settled = plan.outcomes + pacer.settle(plan, sent, outcomes, now)
        by_id = {c.delivery_id: c for c in claims}
        for outcome in settled:
            claim = by_id[outcome.delivery_id]
            queue.remove(claim)
            if outcome.status is DeliveryStatus.SENT:
                done[claim.email], attempts[claim.email] = now, outcome.attempts
            else:
                queue.append(replace(claim, attempts=outcome.attempts, retry_at=outcome.next_attempt_at))
        now += seconds(tick)
    return done, attempts, paces


def test_a_throttling_domain_is_paced_and_finishes_while_the_other_domain_goes_at_full_speed():
    provider = Provider("throttled.test", per_second=20)
    done, attempts, paces = simulate("throttled.test=80/s", {"throttled.test": 200, "example.net": 400}, provider)

    assert len(done) == 600  # every reader, once
    others = [at for address, at in done.items() if address.endswith("@example.net")]
    throttled = [at for address, at in done.items() if address.endswith("@throttled.test")]
    # The other domain went at the worker's full speed: 400 readers in 8 batches of 50, one a tick.
    assert max(others) - T0 <= seconds(16 * 0.05)
    assert max(others) < sorted(throttled)[20]
    # The throttled one was refused, halved until the provider took it, and finished...
    assert provider.refused
    state = paces.rows["throttled.test"]
    assert current_rate(state, state.changed_at) <= 20
    assert max(throttled) - T0 < seconds(60)
    # ... without its refusals using the readers' attempts, and with few refusals each.
    assert set(attempts.values()) == {1}
    assert max(provider.refused.values()) <= 3
    assert sum(provider.refused.values()) <= 200


def test_a_domain_without_a_limit_that_throttles_is_paced_from_then_on():
    provider = Provider("small.test", per_second=5)
    done, attempts, paces = simulate("", {"small.test": 60, "example.net": 60}, provider)
    assert len(done) == 120 and set(attempts.values()) == {1}
    assert "small.test" in paces.rows and "example.net" not in paces.rows
    assert max(provider.refused.values()) <= 3


def test_the_counts_per_domain_follow_the_rows_deferred_and_sent():
    now = T0
    pacer = Pacer(MemoryPaces(lambda: now), {"gmail.com": 1.0}, gives_up=lambda claim, at: False, clock=lambda: 0.0)
    claims = [Claim(i, 7, i, f"r{i}@gmail.com", "R") for i in (1, 2, 3)] + [Claim(4, 7, 4, "x@example.net", "X")]
    plan = pacer.plan(claims, now)
    assert plan.held == {2, 3}
    assert all(o.status is DeliveryStatus.DEFERRED and o.attempts == 0 and o.next_attempt_at for o in plan.outcomes)
    sent = [Outcome(c.delivery_id, c.subscriber_id, DeliveryStatus.SENT, 1, 250, "ok", None)
            for c in claims if c.delivery_id not in plan.held]
    [count] = pacer.tally(plan, claims, plan.outcomes + sent)
    assert (count.issue_id, count.domain, count.sent, count.deferred) == (7, "gmail.com", 1, 2)

    # The two come back due, are sent, and leave the waiting count.
    now = T0 + seconds(3)
    again = [replace(c, retry_at=o.next_attempt_at) for c, o in zip(claims[1:3], plan.outcomes, strict=True)]
    plan = pacer.plan(again, now)
    assert plan.held == {3}  # one a second
    outcomes = plan.outcomes + [Outcome(2, 2, DeliveryStatus.SENT, 1, 250, "ok", None)]
    [count] = pacer.tally(plan, again, outcomes)
    assert (count.sent, count.deferred) == (1, -1)


def test_a_row_too_old_to_wait_fails_instead_of_waiting_again():
    pacer = Pacer(MemoryPaces(lambda: T0), {"gmail.com": 1.0}, gives_up=lambda claim, at: claim.delivery_id == 2,
                  clock=lambda: 0.0)
    plan = pacer.plan([Claim(i, 1, i, f"r{i}@gmail.com", "R") for i in (1, 2)], T0)
    [outcome] = plan.outcomes
    assert outcome.delivery_id == 2 and outcome.status is DeliveryStatus.FAILED
