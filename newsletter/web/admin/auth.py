"""The editors' login: accounts (email + password) and the built-in admin password, a signed session
cookie naming a server-side session, CSRF tokens derived from it, and owner-only pages."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import RedirectResponse, Response

from newsletter.errors import NotAllowed
from newsletter.config import Settings
from newsletter.accounts.login_sessions import BUILT_IN_ID, LoginSessions
from newsletter.accounts.models import UserRole
from newsletter.db.base import utcnow
from newsletter.accounts.users import LOGIN_REFUSED, AttemptLimiter, LoginFailed, Users
from newsletter.web.client_address import client_address
from newsletter.web.pages import Pages

SESSION_COOKIE = "newsletter_admin"
SESSION_MAX_AGE = 12 * 3600
DEFAULT_NEXT = "/admin/issues"
BUILT_IN_EMAIL = "admin"
# The same words for an unknown email, a wrong password and a locked-out client address.
LOGIN_FAILED_TEXT = LOGIN_REFUSED[:1].upper() + LOGIN_REFUSED[1:] + "."


class LoginRequired(NotAllowed):
    """No valid admin session: GET pages redirect to the login form, other methods get 401."""


class CsrfRejected(NotAllowed):
    """A state-changing admin form came without the session's CSRF token."""


class OwnerRequired(NotAllowed):
    """An editor asked for a page only owners may use."""


@dataclass(frozen=True)
class AdminSession:
    nonce: str
    csrf_token: str
    user_id: int = BUILT_IN_ID
    email: str = BUILT_IN_EMAIL
    role: str = UserRole.OWNER.value  # "owner" or "editor", as templates print it

    @property
    def is_owner(self) -> bool:
        return self.role == UserRole.OWNER.value


def safe_next(target: str | None) -> str:
    """Only admin paths on this site, so the login form cannot be used as an open redirect."""
    if not target or not target.startswith("/admin") or target.startswith("//") or "\\" in target:
        return DEFAULT_NEXT
    if target.startswith("/admin/login"):
        return DEFAULT_NEXT
    return target


def login_url(next_path: str) -> str:
    return f"/admin/login?next={quote(next_path, safe='')}"


class AdminAuth:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], users: Users | None = None) -> None:
        self._password = settings.admin_password.encode()
        self._logins = LoginSessions(sessions, timedelta(seconds=SESSION_MAX_AGE))
        self.users = users or Users(sessions)
        self.limiter = AttemptLimiter()  # per app instance: each server process counts its own
        self._sessions = URLSafeTimedSerializer(settings.secret_key, salt="admin-session")
        self._csrf_key = hashlib.sha256(b"csrf:" + settings.secret_key.encode()).digest()
        # Built-in sessions carry a fingerprint of the password, so changing it logs them out.
        self._password_tag = hmac.new(self._csrf_key, b"pw:" + self._password, hashlib.sha256).hexdigest()[:16]
        self._secure = settings.base_url.startswith("https://")

    def password_ok(self, attempt: str) -> bool:
        # An unset password must never let an empty attempt in.
        return bool(self._password) and secrets.compare_digest(attempt.encode(), self._password)

    def log_in(self, response: Response, user_id: int = BUILT_IN_ID, role: UserRole = UserRole.OWNER) -> None:
        nonce = self._logins.open(user_id)
        data: dict[str, Any] = {"n": nonce, "u": user_id, "r": role.value}
        if user_id == BUILT_IN_ID:
            data["p"] = self._password_tag
        response.set_cookie(
            SESSION_COOKIE,
            self._sessions.dumps(data),
            max_age=SESSION_MAX_AGE,
            path="/admin",
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )

    def log_out(self, request: Request, response: Response) -> None:
        """Ends the session server-side too, so a copy of the cookie is worthless afterwards."""
        data = self._cookie(request)
        if data is not None:
            self._logins.close(str(data["n"]))
        response.delete_cookie(SESSION_COOKIE, path="/admin", httponly=True, samesite="lax", secure=self._secure)

    def _cookie(self, request: Request) -> dict[str, Any] | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self._sessions.loads(raw, max_age=SESSION_MAX_AGE)
            if isinstance(data, dict) and isinstance(data["n"], str) and isinstance(data["u"], int):
                return data
        except (BadSignature, KeyError, TypeError, ValueError):
            pass
        return None

    def current(self, request: Request) -> AdminSession | None:
        cached = getattr(request.state, "admin", None)
        if isinstance(cached, AdminSession):
            return cached
        data = self._cookie(request)
        if data is None:
            return None
        nonce, user_id = str(data["n"]), int(data["u"])
        owner = self._logins.owner(nonce, user_id)
        if owner is None:
            return None  # logged out, expired, or the user was deleted or changed password
        if user_id == BUILT_IN_ID and not (
            self._password and hmac.compare_digest(str(data.get("p", "")), self._password_tag)
        ):
            return None  # the built-in password changed since this login
        email, role = owner.email or BUILT_IN_EMAIL, owner.role
        csrf = hmac.new(self._csrf_key, nonce.encode(), hashlib.sha256).hexdigest()
        return AdminSession(nonce, csrf, user_id, email, UserRole(role).value)

    # FastAPI dependencies (bound methods, so no globals are needed).

    def require(self, request: Request) -> AdminSession:
        session = self.current(request)
        if session is None:
            raise LoginRequired()
        request.state.admin = session  # pages show the logout button and embed the CSRF token
        return session

    def require_csrf(self, request: Request, csrf_token: Annotated[str, Form()] = "") -> AdminSession:
        session = self.require(request)
        if not hmac.compare_digest(csrf_token.encode(), session.csrf_token.encode()):
            raise CsrfRejected()
        return session

    def require_owner(self, request: Request) -> AdminSession:
        session = self.require(request)
        if not session.is_owner:
            raise OwnerRequired()
        return session


def _minutes(delta: timedelta) -> str:
    minutes = max(1, -(-int(delta.total_seconds()) // 60))  # rounded up: never "0 minutes"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def auth_router(auth: AdminAuth, pages: Pages) -> APIRouter:
    router = APIRouter(prefix="/admin")

    def form(request: Request, status: int, next_path: str, email: str = "", **error: str) -> Response:
        return pages.render(request, "admin_login.html", status, next=safe_next(next_path), email=email, **error)

    @router.get("/login")
    def login_form(request: Request, next_path: Annotated[str, Query(alias="next")] = DEFAULT_NEXT) -> Response:
        if auth.current(request) is not None:
            return RedirectResponse(safe_next(next_path), status_code=303)
        return form(request, 200, next_path)

    @router.post("/login")
    def login(
        request: Request,
        email: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        next_path: Annotated[str, Form(alias="next")] = DEFAULT_NEXT,
    ) -> Response:
        now = utcnow()
        client = client_address(request)
        email = email.strip()
        wait = auth.limiter.retry_after(client, now)
        if wait is not None:
            text = f"Too many failed logins from your network. Try again in {_minutes(wait)}."
            return form(request, 429, next_path, email, error=text)
        if email.lower() in ("", BUILT_IN_EMAIL):
            # The built-in admin is locked out per client address like any account (its name is no secret).
            failures = auth.users.failures
            if failures.refused(BUILT_IN_EMAIL, client, now):
                auth.limiter.failed(client, now)
                return form(request, 401, next_path, email, error=LOGIN_FAILED_TEXT)
            if not auth.password_ok(password):
                failures.failed(BUILT_IN_EMAIL, client, now)
                auth.limiter.failed(client, now)
                return form(request, 401, next_path, email, error="That password is not right.")
            failures.succeeded(BUILT_IN_EMAIL, client, now)
            response = RedirectResponse(safe_next(next_path), status_code=303)
            auth.log_in(response)
            return response
        try:
            user = auth.users.authenticate(email, password, now, client)
        except LoginFailed:
            auth.limiter.failed(client, now)
            return form(request, 401, next_path, email, error=LOGIN_FAILED_TEXT)
        response = RedirectResponse(safe_next(next_path), status_code=303)
        auth.log_in(response, user.id, user.role)
        return response

    @router.post("/logout")
    def logout(request: Request, _: AdminSession = Depends(auth.require_csrf)) -> Response:  # noqa: B008
        response = RedirectResponse("/admin/login", status_code=303)
        auth.log_out(request, response)
        return response

    return router


def install_auth_errors(app: FastAPI, pages: Pages) -> None:
    """The 403 page for editors on owner-only pages (errors.py maps the other auth errors)."""

    async def owner_required(request: Request, exc: Exception) -> Response:
        detail = "Only an owner can manage users and API tokens. Ask an owner of this newsletter."
        return pages.error(request, 403, "Not allowed", detail)

    app.add_exception_handler(OwnerRequired, owner_required)

