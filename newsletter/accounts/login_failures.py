"""Failed logins per (account name, client address), kept in the database so every web process agrees.

- One client address that keeps guessing locks the account for itself only (MAX_FAILURES in a
  row, then LOCK_TIME): the owner logging in from anywhere else is not affected, so nobody can
  lock the owner out.
- A guess spread over many addresses (a botnet) is slowed, not locked: once an account has had
  ACCOUNT_CAP failures from all addresses within LOCK_TIME, only addresses where it logged in
  before may try it until the failures age out. The owner at their usual address gets in.
- Unknown names are counted and locked like real accounts, so the answers say nothing about
  which accounts exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.db.sql import insert_for
from newsletter.accounts.models import LoginFailure

MAX_FAILURES = 10  # failed logins in a row from one address before that address is locked out
LOCK_TIME = timedelta(minutes=15)
ACCOUNT_CAP = 100  # failures of one account from all addresses within LOCK_TIME before only known addresses may try
REMEMBER_SUCCESS = timedelta(days=90)  # an address the account logged in from stays "known" this long
FORGET_FAILURES = timedelta(days=1)  # rows with no success and no failure since are deleted
MAX_CLIENT = 64  # the column's width; IPv6 text is at most 45 characters


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = MAX_FAILURES
    lock_time: timedelta = LOCK_TIME
    account_cap: int = ACCOUNT_CAP
    remember_success: timedelta = REMEMBER_SUCCESS


def account_key(name: str) -> str:
    """The stored form of the account name typed (a normalised email, or "admin")."""
    return hashlib.sha256(b"login:" + name.encode()).hexdigest()


class LoginFailures:
    def __init__(self, sessions: sessionmaker[Session], policy: LoginPolicy | None = None) -> None:
        self._sessions = sessions
        self.policy = policy or LoginPolicy()

    def refused(self, name: str, client: str, now: datetime) -> bool:
        """Whether this client may not try this account now (its password is then not checked)."""
        account, client = account_key(name), client[:MAX_CLIENT]
        with self._sessions() as session:
            row = session.scalars(
                select(LoginFailure).where(LoginFailure.account == account, LoginFailure.client == client)
            ).one_or_none()
            if row is not None and row.locked_until is not None and row.locked_until > now:
                return True
            if row is not None and row.last_success_at is not None and (
                row.last_success_at > now - self.policy.remember_success
            ):
                return False  # a known address: only its own count applies
            recent = session.scalar(
                select(func.coalesce(func.sum(LoginFailure.failures), 0)).where(
                    LoginFailure.account == account, LoginFailure.last_failed_at > now - self.policy.lock_time
                )
            )
            return int(recent or 0) >= self.policy.account_cap

    def failed(self, name: str, client: str, now: datetime) -> None:
        account, client = account_key(name), client[:MAX_CLIENT]
        with self._sessions.begin() as session:
            row = self._locked_row(session, account, client, now)
            if row.locked_until is not None and row.locked_until > now:
                return  # a concurrent attempt locked it meanwhile; the lock is not extended
            stale = row.last_failed_at is None or row.last_failed_at <= now - self.policy.lock_time
            if row.locked_until is not None or stale:  # the lock ran out, or the last failure is old: a fresh count
                row.failures, row.locked_until = 0, None
            row.failures += 1
            row.last_failed_at = row.updated_at = now
            if row.failures >= self.policy.max_failures:
                row.locked_until = now + self.policy.lock_time
            self._forget_old(session, now)

    def succeeded(self, name: str, client: str, now: datetime) -> None:
        account, client = account_key(name), client[:MAX_CLIENT]
        with self._sessions.begin() as session:
            row = self._locked_row(session, account, client, now)
            row.failures, row.locked_until = 0, None
            row.last_success_at = row.updated_at = now

    def locked_until(self, name: str, now: datetime) -> datetime | None:
        """The latest lock still running on this account for some address (shown on the users page)."""
        with self._sessions() as session:
            return session.scalar(
                select(func.max(LoginFailure.locked_until)).where(
                    LoginFailure.account == account_key(name), LoginFailure.locked_until > now
                )
            )

    def _locked_row(self, session: Session, account: str, client: str, now: datetime) -> LoginFailure:
        # Insert-or-nothing, then lock the row: two processes counting at once both count.
        session.execute(
            insert_for(session)(LoginFailure)
            .values(account=account, client=client, failures=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["account", "client"])
        )
        return session.scalars(
            select(LoginFailure)
            .where(LoginFailure.account == account, LoginFailure.client == client)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()

    def _forget_old(self, session: Session, now: datetime) -> None:
        # Bounded by the updated_at index; keeps the table the size of the last day's guessing.
        session.execute(
            delete(LoginFailure).where(
                LoginFailure.updated_at < now - FORGET_FAILURES, LoginFailure.last_success_at.is_(None)
            )
        )
        session.execute(delete(LoginFailure).where(LoginFailure.updated_at < now - self.policy.remember_success))
