"""Editor accounts: argon2id passwords, roles, lock-out per client address (login_failures.py), and a
per-address login rate limit."""

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
from newsletter.accounts.login_failures import LOCK_TIME as LOCK_TIME  # re-exported: the tests' and callers' name
from newsletter.accounts.login_failures import MAX_FAILURES as MAX_FAILURES
from newsletter.accounts.login_failures import LoginFailures, LoginPolicy, account_key
from newsletter.accounts.models import LoginFailure, LoginSession, User, UserRole
from newsletter.db.base import utcnow

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; this only stops absurd form posts
# One answer for an unknown account, a wrong password and a locked-out client: none of them says
# whether the account exists.
LOGIN_REFUSED = "wrong email or password, or too many attempts; try again later"


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
    """Unknown email, wrong password or too many failures from this client (deliberately not saying which)."""

    def __init__(self, message: str = LOGIN_REFUSED) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class UserInfo:
    id: int
    email: str
    role: UserRole
    created_at: datetime
    last_login_at: datetime | None
    locked_until: datetime | None  # the latest lock-out of some client address still running


def _info(row: User, locked_until: datetime | None) -> UserInfo:
    return UserInfo(row.id, row.email, row.role, row.created_at, row.last_login_at, locked_until)


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
    def __init__(
        self, sessions: sessionmaker[Session], hasher: PasswordHasher | None = None, policy: LoginPolicy | None = None
    ) -> None:
        self._sessions = sessions
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = ""  # made on first need: hashing costs time every app start would pay
        self.failures = LoginFailures(sessions, policy)

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

    def authenticate(self, email: str, password: str, now: datetime | None = None, client: str = "") -> UserInfo:
        """The account, or LoginFailed with one message whatever the reason. ``client`` is the
        client address: failures lock the account out for that address only."""
        now = now or utcnow()
        try:
            address = normalise_email(email)
        except InvalidAddress:
            address = ""  # every non-address shares one count per client; never stored as typed
        name = address or "invalid"
        if self.failures.refused(name, client, now):
            # The password is not checked (guessing goes no further), but a hash is still
            # verified, so a refusal takes as long as a wrong password.
            self._verify(self._dummy(), password)
            raise LoginFailed()
        row: User | None = None
        if address:
            with self._sessions() as session:
                row = session.scalars(select(User).where(User.email == address)).one_or_none()
        # Exactly one verification on every path, outside any transaction (argon2 takes a while).
        stored = row.password_hash if row is not None else self._dummy()
        matches = self._verify(stored, password)  # before looking at row: an unknown account is checked too
        if row is None or not matches:
            self.failures.failed(name, client, now)
            raise LoginFailed()
        with self._sessions.begin() as session:
            # Only if the password is still the one checked: a concurrent change of password wins.
            current = session.scalars(
                select(User).where(User.id == row.id, User.password_hash == stored).with_for_update()
            ).one_or_none()
            if current is None:
                raise LoginFailed()
            if self._hasher.check_needs_rehash(stored):
                current.password_hash = self._hasher.hash(password)
            current.last_login_at = now
            info = _info(current, None)
        self.failures.succeeded(name, client, now)
        return info

    def _dummy(self) -> str:
        self._dummy_hash = self._dummy_hash or self._hasher.hash("not a password of anyone")
        return self._dummy_hash

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def get(self, user_id: int, now: datetime | None = None) -> UserInfo | None:
        with self._sessions() as session:
            row = session.get(User, user_id)
            return None if row is None else _info(row, self.failures.locked_until(row.email, now or utcnow()))

    def list(self, now: datetime | None = None) -> builtins.list[UserInfo]:
        with self._sessions() as session:
            rows = session.scalars(select(User).order_by(User.email)).all()
            return [_info(row, self.failures.locked_until(row.email, now or utcnow())) for row in rows]

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
            # A new password lifts every lock-out on the account (an owner resetting it for someone).
            session.execute(delete(LoginFailure).where(LoginFailure.account == account_key(row.email)))
            session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))

    def delete(self, user_id: int) -> None:
        with self._sessions.begin() as session:
            row = self._row(session, user_id)
            if row.role == UserRole.OWNER:
                self._keep_an_owner(session, f"{row.email} is the last owner and cannot be deleted")
            # Explicitly, because SQLite only cascades with foreign keys on.
            session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
            session.execute(delete(LoginFailure).where(LoginFailure.account == account_key(row.email)))
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

    It stops guessing across many emails (which no per-account lock-out sees) from one address;
    kept in memory as a cheap first line, the per-account counts are in the database.
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

