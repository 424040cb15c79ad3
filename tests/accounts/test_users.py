"""Editor accounts against the real database: hashing, lock-out per client address, rehash, the last
owner, API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.readers.addresses import InvalidAddress
from newsletter.accounts.api_tokens import ApiTokens, InvalidTokenName
from newsletter.accounts.login_failures import LoginPolicy
from newsletter.accounts.models import ApiToken, User, UserRole
from newsletter.db.base import utcnow
from newsletter.accounts.users import (
    LOCK_TIME,
    LOGIN_REFUSED,
    MAX_FAILURES,
    AttemptLimiter,
    DuplicateUser,
    LastOwner,
    LoginFailed,
    UserError,
    UserNotFound,
    Users,
    WeakPassword,
)

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # keeps the suite quick
PASSWORD = "correct horse battery"
NOW = utcnow()


@pytest.fixture
def users(sessions: sessionmaker[Session]) -> Users:
    return Users(sessions, FAST)


def stored(sessions: sessionmaker[Session], email: str) -> User:
    with sessions() as session:
        return session.scalars(select(User).where(User.email == email)).one()


def test_create_normalises_the_email_and_never_stores_the_password(
    users: Users, sessions: sessionmaker[Session]
) -> None:
    user_id = users.create("  Ann@Example.ORG ", PASSWORD, "owner")
    row = stored(sessions, "ann@example.org")
    assert row.id == user_id and row.role == UserRole.OWNER
    assert PASSWORD not in row.password_hash and row.password_hash.startswith("$argon2id$")
    assert users.authenticate("ANN@example.org", PASSWORD, NOW).id == user_id


@pytest.mark.parametrize(
    ("email", "password", "role", "error", "words"),
    [
        ("not-an-address", PASSWORD, "editor", InvalidAddress, "@"),
        ("a@example.org", "short", "editor", WeakPassword, "at least 10 characters"),
        ("a@example.org", "", "editor", WeakPassword, "at least 10 characters"),
        ("a@example.org", PASSWORD, "boss", UserError, "role must be one of owner, editor"),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    users: Users, email: str, password: str, role: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        users.create(email, password, role)
    assert users.list() == []


def test_a_duplicate_email_is_a_clear_error(users: Users) -> None:
    users.create("ann@example.org", PASSWORD)
    with pytest.raises(DuplicateUser, match="already a user ann@example.org"):
        users.create("ANN@example.org", "another password")


def test_wrong_password_and_unknown_email_fail_alike(users: Users) -> None:
    users.create("ann@example.org", PASSWORD)
    with pytest.raises(LoginFailed) as wrong:
        users.authenticate("ann@example.org", "wrong password", NOW)
    with pytest.raises(LoginFailed) as unknown:
        users.authenticate("bob@example.org", PASSWORD, NOW)
    assert str(wrong.value) == str(unknown.value)


def refused(users: Users, email: str, password: str, when: datetime, client: str) -> str:
    with pytest.raises(LoginFailed) as failed:
        users.authenticate(email, password, when, client)
    return str(failed.value)


def test_ten_failures_lock_the_account_for_that_address_only(users: Users) -> None:
    users.create("ann@example.org", PASSWORD)
    for n in range(MAX_FAILURES):
        refused(users, "ann@example.org", f"guess {n}", NOW + timedelta(seconds=n), "203.0.113.5")
    # The 11th attempt from that address is refused even with the right password...
    assert refused(users, "ann@example.org", PASSWORD, NOW + timedelta(minutes=1), "203.0.113.5") == LOGIN_REFUSED
    until = NOW + timedelta(seconds=MAX_FAILURES - 1) + LOCK_TIME
    refused(users, "ann@example.org", PASSWORD, until - timedelta(seconds=1), "203.0.113.5")
    # ...while Ann at her own address logs in all along.
    assert users.authenticate("ann@example.org", PASSWORD, NOW + timedelta(minutes=2), "198.51.100.7").email
    assert users.list(NOW + timedelta(minutes=2))[0].locked_until == until  # the users page shows someone is locked out
    # Once the lock has run out the right password works from that address too.
    assert users.authenticate("ann@example.org", PASSWORD, until + timedelta(seconds=1), "203.0.113.5").email


def test_eleven_addresses_with_one_failure_each_lock_nobody_out(users: Users) -> None:
    users.create("ann@example.org", PASSWORD)
    for n in range(MAX_FAILURES + 1):
        refused(users, "ann@example.org", "a guess", NOW + timedelta(seconds=n), f"203.0.113.{n + 1}")
    assert users.authenticate("ann@example.org", PASSWORD, NOW + timedelta(minutes=1), "198.51.100.7").email


def test_unknown_wrong_and_locked_out_are_refused_alike(users: Users) -> None:
    users.create("ann@example.org", PASSWORD)
    wrong = refused(users, "ann@example.org", "wrong password", NOW, "203.0.113.5")
    unknown = refused(users, "bob@example.org", PASSWORD, NOW, "203.0.113.5")
    not_an_address = refused(users, "bob", PASSWORD, NOW, "203.0.113.5")
    for n in range(MAX_FAILURES):
        refused(users, "ann@example.org", f"guess {n}", NOW, "203.0.113.6")
        refused(users, "nobody@example.org", f"guess {n}", NOW, "203.0.113.6")
    locked = refused(users, "ann@example.org", PASSWORD, NOW, "203.0.113.6")
    # An unknown account locks like a real one, so neither the words nor the lock tell them apart.
    locked_unknown = refused(users, "nobody@example.org", PASSWORD, NOW, "203.0.113.6")
    assert wrong == unknown == not_an_address == locked == locked_unknown == LOGIN_REFUSED


class CountingHasher(PasswordHasher):
    """FAST's parameters, counting verifications: the time a refusal takes is one argon2 check."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 - argon2's own name
        self.verified += 1
        return super().verify(hash, password)


def test_every_refusal_checks_one_hash_so_none_is_quicker(sessions: sessionmaker[Session]) -> None:
    hasher = CountingHasher()
    users = Users(sessions, hasher)
    users.create("ann@example.org", PASSWORD)
    for email, password in [("ann@example.org", "wrong password"), ("nobody@example.org", PASSWORD), ("bob", "x")]:
        before = hasher.verified
        refused(users, email, password, NOW, "203.0.113.5")
        assert hasher.verified == before + 1, email
    for n in range(MAX_FAILURES):
        refused(users, "ann@example.org", f"guess {n}", NOW, "203.0.113.6")
    before = hasher.verified
    refused(users, "ann@example.org", PASSWORD, NOW, "203.0.113.6")  # locked out: a dummy hash is checked
    assert hasher.verified == before + 1


def test_a_success_resets_the_count(users: Users) -> None:
    users.create("ann@example.org", PASSWORD)
    for _ in range(MAX_FAILURES - 1):
        refused(users, "ann@example.org", "wrong password", NOW, "203.0.113.5")
    users.authenticate("ann@example.org", PASSWORD, NOW, "203.0.113.5")
    for _ in range(MAX_FAILURES - 1):
        refused(users, "ann@example.org", "wrong password", NOW, "203.0.113.5")
    assert users.authenticate("ann@example.org", PASSWORD, NOW, "203.0.113.5").email


def test_failures_further_apart_than_the_lock_time_do_not_add_up(users: Users) -> None:
    users.create("ann@example.org", PASSWORD)
    for n in range(MAX_FAILURES - 1):
        refused(users, "ann@example.org", "wrong password", NOW + timedelta(seconds=n), "203.0.113.5")
    later = NOW + LOCK_TIME + timedelta(minutes=1)
    for n in range(MAX_FAILURES - 1):
        refused(users, "ann@example.org", "wrong password", later + timedelta(seconds=n), "203.0.113.5")
    assert users.authenticate("ann@example.org", PASSWORD, later + timedelta(minutes=1), "203.0.113.5").email


def test_a_guess_spread_over_many_addresses_is_slowed_but_known_addresses_get_in(
    sessions: sessionmaker[Session],
) -> None:
    users = Users(sessions, FAST, LoginPolicy(account_cap=5))
    users.create("ann@example.org", PASSWORD)
    users.authenticate("ann@example.org", PASSWORD, NOW, "198.51.100.7")  # Ann's usual address
    for n in range(5):  # a botnet: one guess from each address
        refused(users, "ann@example.org", "a guess", NOW + timedelta(seconds=n), f"203.0.113.{n + 1}")
    # A new address may not try now, not even with the right password; Ann's usual address may.
    refused(users, "ann@example.org", PASSWORD, NOW + timedelta(minutes=1), "192.0.2.1")
    assert users.authenticate("ann@example.org", PASSWORD, NOW + timedelta(minutes=1), "198.51.100.7").email
    # Slowed, not locked: once the failures are older than the lock time, anyone may try again.
    assert users.authenticate("ann@example.org", PASSWORD, NOW + LOCK_TIME + timedelta(minutes=1), "192.0.2.1").email


def test_a_new_password_lifts_the_lock_outs(users: Users) -> None:
    ann = users.create("ann@example.org", PASSWORD)
    for n in range(MAX_FAILURES):
        refused(users, "ann@example.org", f"guess {n}", NOW, "203.0.113.5")
    users.set_password(ann, "a brand new password")
    assert users.get(ann, NOW).locked_until is None  # type: ignore[union-attr]
    assert users.authenticate("ann@example.org", "a brand new password", NOW, "203.0.113.5").id == ann


def test_a_hash_with_old_parameters_is_upgraded_at_login(sessions: sessionmaker[Session]) -> None:
    Users(sessions, FAST).create("ann@example.org", PASSWORD)
    old = stored(sessions, "ann@example.org").password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    assert stronger.check_needs_rehash(old)
    Users(sessions, stronger).authenticate("ann@example.org", PASSWORD, NOW)
    new = stored(sessions, "ann@example.org").password_hash
    assert new != old and not stronger.check_needs_rehash(new)
    assert Users(sessions, stronger).authenticate("ann@example.org", PASSWORD, NOW).email == "ann@example.org"


def test_the_last_owner_can_be_neither_deleted_nor_demoted(users: Users) -> None:
    ann = users.create("ann@example.org", PASSWORD, "owner")
    bob = users.create("bob@example.org", PASSWORD, "editor")
    with pytest.raises(LastOwner):
        users.delete(ann)
    with pytest.raises(LastOwner):
        users.set_role(ann, "editor")
    users.set_role(bob, "owner")
    users.set_role(ann, "editor")  # now someone else is owner
    users.delete(ann)
    assert [(u.email, u.role) for u in users.list()] == [("bob@example.org", UserRole.OWNER)]
    with pytest.raises(UserNotFound):
        users.delete(ann)
    with pytest.raises(UserError, match="role must be"):
        users.set_role(bob, "root")


def test_a_new_password_replaces_the_old_one(users: Users) -> None:
    ann = users.create("ann@example.org", PASSWORD)
    users.set_password(ann, "a brand new password")
    with pytest.raises(LoginFailed):
        users.authenticate("ann@example.org", PASSWORD, NOW)
    assert users.authenticate("ann@example.org", "a brand new password", NOW).id == ann


def test_the_address_limiter_counts_failures_in_a_sliding_window() -> None:
    limiter = AttemptLimiter(max_attempts=3, window=timedelta(minutes=5))
    for n in range(3):
        assert limiter.retry_after("10.0.0.1", NOW + timedelta(minutes=n)) is None
        limiter.failed("10.0.0.1", NOW + timedelta(minutes=n))
    assert limiter.retry_after("10.0.0.1", NOW + timedelta(minutes=3)) == timedelta(minutes=2)
    assert limiter.retry_after("10.0.0.2", NOW + timedelta(minutes=3)) is None  # others are not affected
    assert limiter.retry_after("10.0.0.1", NOW + timedelta(minutes=5)) is None  # the first slid out


def test_api_tokens_are_stored_hashed_and_revocable(sessions: sessionmaker[Session]) -> None:
    tokens = ApiTokens(sessions)
    issued = tokens.create("  nightly   report ")
    assert issued.name == "nightly report" and issued.token.startswith("nl_") and len(issued.token) > 40
    with sessions() as session:
        row = session.get(ApiToken, issued.id)
        assert row is not None and issued.token not in (row.token_hash, row.prefix)
        assert row.prefix == issued.token[:8]
    info = tokens.verify(issued.token, NOW)
    assert info is not None and info.id == issued.id and info.last_used_at == NOW
    # last_used_at moves at most once a minute.
    assert tokens.verify(issued.token, NOW + timedelta(seconds=30)).last_used_at == NOW  # type: ignore[union-attr]
    later = NOW + timedelta(minutes=2)
    assert tokens.verify(issued.token, later).last_used_at == later  # type: ignore[union-attr]
    assert tokens.verify(issued.token + "x") is None and tokens.verify("") is None
    assert tokens.revoke(issued.id) is True and tokens.revoke(issued.id) is False and tokens.revoke(999) is False
    assert tokens.verify(issued.token) is None
    [listed] = tokens.list()
    assert listed.revoked and listed.prefix == issued.token[:8]
    with pytest.raises(InvalidTokenName):
        tokens.create("   ")
