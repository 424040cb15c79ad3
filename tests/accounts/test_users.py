"""Editor accounts against the real database: hashing, lock-out, rehash, the last owner, API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.readers.addresses import InvalidAddress
from newsletter.accounts.api_tokens import ApiTokens, InvalidTokenName
from newsletter.accounts.models import ApiToken, User, UserRole
from newsletter.db.base import utcnow
from newsletter.accounts.users import (
    LOCK_TIME,
    MAX_FAILURES,
    AccountLocked,
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


def test_ten_failures_lock_the_account_for_fifteen_minutes(users: Users, sessions: sessionmaker[Session]) -> None:
    users.create("ann@example.org", PASSWORD)
    for n in range(MAX_FAILURES):
        with pytest.raises(LoginFailed) as failed:
            users.authenticate("ann@example.org", f"guess {n}", NOW + timedelta(seconds=n))
        assert not isinstance(failed.value, AccountLocked)
    # The 11th attempt is refused even with the right password, saying until when.
    with pytest.raises(AccountLocked) as locked:
        users.authenticate("ann@example.org", PASSWORD, NOW + timedelta(minutes=1))
    until = NOW + timedelta(seconds=MAX_FAILURES - 1) + LOCK_TIME
    assert locked.value.until == until and f"{until:%H:%M} UTC" in str(locked.value)
    with pytest.raises(AccountLocked):
        users.authenticate("ann@example.org", PASSWORD, until - timedelta(seconds=1))
    # Once the lock has run out the right password works, and the count starts again.
    assert users.authenticate("ann@example.org", PASSWORD, until + timedelta(seconds=1)).email == "ann@example.org"
    row = stored(sessions, "ann@example.org")
    assert row.failed_logins == 0 and row.locked_until is None and row.last_login_at is not None


def test_a_success_resets_the_count(users: Users, sessions: sessionmaker[Session]) -> None:
    users.create("ann@example.org", PASSWORD)
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(LoginFailed):
            users.authenticate("ann@example.org", "wrong password", NOW)
    assert stored(sessions, "ann@example.org").failed_logins == MAX_FAILURES - 1
    users.authenticate("ann@example.org", PASSWORD, NOW)
    with pytest.raises(LoginFailed) as failed:
        users.authenticate("ann@example.org", "wrong password", NOW)
    assert not isinstance(failed.value, AccountLocked)
    assert stored(sessions, "ann@example.org").failed_logins == 1


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
