"""Editor accounts: argon2id passwords, roles, lock-out after repeated failures, and a login rate limit."""

from __future__ import annotations

import builtins
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import Conflict, InvalidInput, NotAllowed, NotFound
from newsletter.readers.addresses import InvalidAddress, normalise_email
from newsletter.accounts.models import LoginSession, User, UserRole
from newsletter.db.base import utcnow

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; this only stops absurd form posts
MAX_FAILURES = 10  # failed logins in a row before the account is locked
LOCK_TIME = timedelta(minutes=15)


class UserError(InvalidInput):
    """A request about accounts that cannot be done; the message says why."""


class DuplicateUser(Conflict):
    pass


class WeakPassword(InvalidInput):
    pass


class LastOwner(Conflict):
    """The last owner can be neither deleted nor demoted: nobody could manage accounts any more."""


class UserNotFound(NotFound):
    pass


class LoginFailed(NotAllowed):
    """Unknown email or wrong password (deliberately not saying which)."""


class AccountLocked(LoginFailed):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"this account is locked after {MAX_FAILURES} failed logins until {until:%H:%M} UTC")
        self.until = until


@dataclass(frozen=True)
class UserInfo:
    id: int
    email: str
    role: UserRole
    created_at: datetime
    last_login_at: datetime | None
    locked_until: datetime | None


def _info(row: User) -> UserInfo:
    return UserInfo(row.id, row.email, row.role, row.created_at, row.last_login_at, row.locked_until)


def parse_role(value: str | UserRole) -> UserRole:
    try:
        return UserRole(value)
    except ValueError:
        raise UserError(f"role must be one of {', '.join(r.value for r in UserRole)}, not {value!r}") from None


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"the password must be at least {MIN_PASSWORD} characters long")
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(f"the password must be at most {MAX_PASSWORD} characters long")


class Users:
    def __init__(self, sessions: sessionmaker[Session], hasher: PasswordHasher | None = None) -> None:
        self._sessions = sessions
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = ""  # made on first need: hashing costs time every app start would pay

    def create(self, email: str, password: str, role: str | UserRole = UserRole.EDITOR) -> int:
        address = normalise_email(email)
        user_role = parse_role(role)
        check_password(password)
        try:
            with self._sessions.begin() as session:
                row = User(email=address, password_hash=self._hasher.hash(password), role=user_role, failed_logins=0)
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError as exc:
            raise DuplicateUser(f"there is already a user {address}") from exc

    def authenticate(self, email: str, password: str, now: datetime | None = None) -> UserInfo:
        now = now or utcnow()
        try:
            address = normalise_email(email)
        except InvalidAddress:
            address = ""
        refusal: LoginFailed | None = None
        with self._sessions.begin() as session:
            row = None
            if address:
                row = session.scalars(select(User).where(User.email == address).with_for_update()).one_or_none()
            if row is None:
                # Verified anyway, so an unknown email takes as long to refuse as a wrong password.
                self._dummy_hash = self._dummy_hash or self._hasher.hash("not a password of anyone")
                self._verify(self._dummy_hash, password)
                raise LoginFailed("that email and password do not match an account")
            if row.locked_until is not None and row.locked_until > now:
                # Refused without checking the password, so guessing goes no further while locked.
                raise AccountLocked(row.locked_until)
            if row.locked_until is not None:  # the lock has run out: a fresh count
                row.locked_until = None
                row.failed_logins = 0
            if self._verify(row.password_hash, password):
                if self._hasher.check_needs_rehash(row.password_hash):
                    row.password_hash = self._hasher.hash(password)
                row.failed_logins = 0
                row.last_login_at = now
                return _info(row)
            # The count is committed although the login fails, hence raising after the block.
            row.failed_logins += 1
            if row.failed_logins >= MAX_FAILURES:
                row.locked_until = now + LOCK_TIME
            refusal = LoginFailed("that email and password do not match an account")
        raise refusal

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def get(self, user_id: int) -> UserInfo | None:
        with self._sessions() as session:
            row = session.get(User, user_id)
            return None if row is None else _info(row)

    def list(self) -> builtins.list[UserInfo]:
        with self._sessions() as session:
            return [_info(row) for row in session.scalars(select(User).order_by(User.email))]

    def set_role(self, user_id: int, role: str | UserRole) -> None:
        user_role = parse_role(role)
        with self._sessions.begin() as session:
            row = self._row(session, user_id)
            if row.role == UserRole.OWNER and user_role != UserRole.OWNER:
                self._keep_an_owner(session, f"{row.email} is the last owner; make someone else owner first")
            row.role = user_role

    def set_password(self, user_id: int, password: str) -> None:
        """A new password also ends every session the user had open."""
        check_password(password)
        with self._sessions.begin() as session:
            row = self._row(session, user_id)
            row.password_hash = self._hasher.hash(password)
            row.failed_logins = 0
            row.locked_until = None
            session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))

    def delete(self, user_id: int) -> None:
        with self._sessions.begin() as session:
            row = self._row(session, user_id)
            if row.role == UserRole.OWNER:
                self._keep_an_owner(session, f"{row.email} is the last owner and cannot be deleted")
            # Explicitly, because SQLite only cascades with foreign keys on.
            session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
            session.delete(row)

    def _row(self, session: Session, user_id: int) -> User:
        row = session.get(User, user_id, with_for_update=True)
        if row is None:
            raise UserNotFound(f"there is no user {user_id}")
        return row

    def _keep_an_owner(self, session: Session, message: str) -> None:
        # Lock the owner rows, so two owners demoting each other at once cannot both succeed (PostgreSQL).
        owners = session.scalars(select(User.id).where(User.role == UserRole.OWNER).with_for_update()).all()
        if len(owners) <= 1:
            raise LastOwner(message)


@dataclass
class AttemptLimiter:
    """Failed logins per client address in a sliding window, in process: one per app instance.

    It stops guessing across many emails (which no per-account lock-out sees) from one address.
    """

    max_attempts: int = 20
    window: timedelta = timedelta(minutes=5)
    _failures: dict[str, deque[datetime]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def retry_after(self, client: str, now: datetime) -> timedelta | None:
        """None if the client may try now, else how long until it may."""
        with self._lock:
            recent = self._prune(client, now)
            if len(recent) < self.max_attempts:
                return None
            return recent[0] + self.window - now

    def failed(self, client: str, now: datetime) -> None:
        with self._lock:
            self._prune(client, now).append(now)

    def _prune(self, client: str, now: datetime) -> deque[datetime]:
        recent = self._failures.setdefault(client, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if not recent:
            # Forget idle clients, so the table does not grow with every address ever seen.
            for key in [k for k, v in self._failures.items() if not v]:
                del self._failures[key]
            recent = self._failures.setdefault(client, deque())
        return recent

