"""The accounts domain's tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.db.base import Base, UTCDateTime, created, enum_type, intpk, when
from newsletter.accounts.roles import UserRole


class User(Base):
    """An editor's account; the email is stored normalised (lower case), the password as argon2id."""

    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[UserRole] = mapped_column(enum_type(UserRole, "user_role"), nullable=False)
    created_at: Mapped[created]
    last_login_at: Mapped[when]
    # Unused since 0014: failures are counted per client address in `login_failure`.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    locked_until: Mapped[when]


class ApiToken(Base):
    """A bearer token for the JSON API: only its SHA-256 is kept, and its first characters to show."""

    __tablename__ = "api_token"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[created]
    last_used_at: Mapped[when]
    revoked_at: Mapped[when]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))


class LoginSession(Base):
    """A logged-in browser: the cookie names it, so logging out (or deleting the user) ends it server-side."""

    __tablename__ = "login_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie's random part
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))  # None: built-in admin
    created_at: Mapped[created]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class LoginFailure(Base):
    """Failed logins of one account name from one client address (accounts/login_failures.py).

    Keyed by a hash of the name typed, so unknown names are counted (and locked) like real ones.
    """

    __tablename__ = "login_failure"
    __table_args__ = (
        UniqueConstraint("account", "client", name="uq_login_failure_account_client"),
        Index("ix_login_failure_updated_at", "updated_at"),
    )

    id: Mapped[intpk]
    account: Mapped[str] = mapped_column(String(64), nullable=False)  # SHA-256 hex of the name typed
    client: Mapped[str] = mapped_column(String(64), nullable=False)  # the client address
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    last_failed_at: Mapped[when]
    locked_until: Mapped[when]
    last_success_at: Mapped[when]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


# -- open and click tracking (issue 7)
