"""Server-side admin login sessions: a row per login, so logging out (or deleting the account)
makes a copy of the cookie worthless. The cookie itself is the web layer's business."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from newsletter.accounts.models import LoginSession, User, UserRole
from newsletter.db.base import utcnow

BUILT_IN_ID = 0  # the NEWSLETTER_ADMIN_PASSWORD account, which has no row


@dataclass(frozen=True)
class LoginOwner:
    """Who a live login session belongs to; the role is read at each request, so a change applies at once."""

    user_id: int
    email: str | None  # None for the built-in account
    role: UserRole


def _session_id(nonce: str) -> str:
    # The table keeps a hash, so reading the database does not hand out live cookies.
    return hashlib.sha256(nonce.encode()).hexdigest()


class LoginSessions:
    def __init__(self, sessions: sessionmaker[Session], max_age: timedelta) -> None:
        self._sessions = sessions
        self._max_age = max_age

    def open(self, user_id: int) -> str:
        """Start a session for ``user_id`` (BUILT_IN_ID for the built-in admin); returns its nonce."""
        nonce = secrets.token_urlsafe(24)
        now = utcnow()
        with self._sessions.begin() as session:
            session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
            session.add(LoginSession(id=_session_id(nonce), user_id=user_id or None, created_at=now,
                                     expires_at=now + self._max_age))
        return nonce

    def close(self, nonce: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(LoginSession).where(LoginSession.id == _session_id(nonce)))

    def owner(self, nonce: str, user_id: int) -> LoginOwner | None:
        """The live session's owner, or None when it was closed, expired, or names another user
        (the user was deleted or changed password)."""
        with self._sessions() as session:
            row = session.get(LoginSession, _session_id(nonce))
            if row is None or row.expires_at <= utcnow() or (row.user_id or BUILT_IN_ID) != user_id:
                return None
            if user_id == BUILT_IN_ID:
                return LoginOwner(BUILT_IN_ID, None, UserRole.OWNER)
            user = session.get(User, user_id)
            return None if user is None else LoginOwner(user.id, user.email, UserRole(user.role))
