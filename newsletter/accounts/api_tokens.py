"""API tokens: random bearer secrets for scripts; only their SHA-256 is stored, the raw token shown once."""

from __future__ import annotations

import builtins
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import InvalidInput
from newsletter.accounts.models import ApiToken
from newsletter.db.base import utcnow

TOKEN_PREFIX = "nl_"  # recognisable in logs and by secret scanners
PREFIX_SHOWN = 8  # characters kept in clear to tell tokens apart in lists
MAX_NAME = 200
USE_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often per token


class InvalidTokenName(InvalidInput):
    """A token needs a short name saying what uses it."""


@dataclass(frozen=True)
class IssuedToken:
    id: int
    name: str
    token: str  # the raw token: shown once, never stored


@dataclass(frozen=True)
class ApiTokenInfo:
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_by: int | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def token_hash(raw: str) -> str:
    # The tokens are 256 random bits, so a plain SHA-256 (no salt, no slow hash) is enough to look them up.
    return hashlib.sha256(raw.encode()).hexdigest()


def _info(row: ApiToken) -> ApiTokenInfo:
    return ApiTokenInfo(row.id, row.name, row.prefix, row.created_at, row.last_used_at, row.revoked_at, row.created_by)


class ApiTokens:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, name: str, created_by: int | None = None) -> IssuedToken:
        clean = " ".join(name.split())
        if not clean:
            raise InvalidTokenName("give the token a name, e.g. what script will use it")
        if len(clean) > MAX_NAME:
            raise InvalidTokenName(f"a token name is at most {MAX_NAME} characters")
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
            row = ApiToken(name=clean, token_hash=token_hash(raw), prefix=raw[:PREFIX_SHOWN], created_by=created_by)
            session.add(row)
            session.flush()
            return IssuedToken(row.id, row.name, raw)

    def verify(self, raw: str, now: datetime | None = None) -> ApiTokenInfo | None:
        """The token's details if it is known and not revoked, else None."""
        if not raw.startswith(TOKEN_PREFIX):
            return None
        now = now or utcnow()
        with self._sessions.begin() as session:
            row = session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash(raw))).one_or_none()
            if row is None or row.revoked_at is not None:
                return None
            if row.last_used_at is None or now - row.last_used_at >= USE_RESOLUTION:
                # One write a minute at most, so a busy script does not write on every call.
                session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
                row.last_used_at = now
            return _info(row)

    def revoke(self, token_id: int) -> bool:
        """True if the token was live and is now revoked; False if unknown or already revoked."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def list(self) -> builtins.list[ApiTokenInfo]:
        """Every token, newest first, revoked ones included (they say so)."""
        with self._sessions() as session:
            rows = session.scalars(select(ApiToken).order_by(ApiToken.id.desc()))
            return [_info(row) for row in rows]
