"""The editor's login: one password, a signed session cookie, and CSRF tokens derived from it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import RedirectResponse, Response

from newsletter.config import Settings
from newsletter.web.pages import Pages

SESSION_COOKIE = "newsletter_admin"
SESSION_MAX_AGE = 12 * 3600
DEFAULT_NEXT = "/admin/issues"


class LoginRequired(Exception):
    """No valid admin session: GET pages redirect to the login form, other methods get 401."""


class CsrfRejected(Exception):
    """A state-changing admin form came without the session's CSRF token."""


@dataclass(frozen=True)
class AdminSession:
    nonce: str
    csrf_token: str


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
    def __init__(self, settings: Settings) -> None:
        self._password = settings.admin_password.encode()
        self._sessions = URLSafeTimedSerializer(settings.secret_key, salt="admin-session")
        self._csrf_key = hashlib.sha256(b"csrf:" + settings.secret_key.encode()).digest()
        # Sessions carry a fingerprint of the password, so changing it logs every browser out.
        self._password_tag = hmac.new(self._csrf_key, b"pw:" + self._password, hashlib.sha256).hexdigest()[:16]
        self._secure = settings.base_url.startswith("https://")

    def password_ok(self, attempt: str) -> bool:
        # An unset password must never let an empty attempt in.
        return bool(self._password) and secrets.compare_digest(attempt.encode(), self._password)

    def log_in(self, response: Response) -> None:
        value = self._sessions.dumps({"n": secrets.token_urlsafe(16), "p": self._password_tag})
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=SESSION_MAX_AGE,
            path="/admin",
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )

    def log_out(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/admin", httponly=True, samesite="lax", secure=self._secure)

    def current(self, request: Request) -> AdminSession | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self._sessions.loads(raw, max_age=SESSION_MAX_AGE)
            nonce, tag = str(data["n"]), str(data["p"])
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if not hmac.compare_digest(tag, self._password_tag):
            return None
        return AdminSession(nonce, hmac.new(self._csrf_key, nonce.encode(), hashlib.sha256).hexdigest())

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


def auth_router(auth: AdminAuth, pages: Pages) -> APIRouter:
    router = APIRouter(prefix="/admin")

    @router.get("/login")
    def login_form(request: Request, next_path: Annotated[str, Query(alias="next")] = DEFAULT_NEXT) -> Response:
        if auth.current(request) is not None:
            return RedirectResponse(safe_next(next_path), status_code=303)
        return pages.render(request, "admin_login.html", next=safe_next(next_path))

    @router.post("/login")
    def login(
        request: Request,
        password: Annotated[str, Form()] = "",
        next_path: Annotated[str, Form(alias="next")] = DEFAULT_NEXT,
    ) -> Response:
        if not auth.password_ok(password):
            return pages.render(
                request, "admin_login.html", 401, next=safe_next(next_path), error="That password is not right."
            )
        response = RedirectResponse(safe_next(next_path), status_code=303)
        auth.log_in(response)
        return response

    @router.post("/logout")
    def logout(_: AdminSession = Depends(auth.require_csrf)) -> Response:  # noqa: B008
        response = RedirectResponse("/admin/login", status_code=303)
        auth.log_out(response)
        return response

    return router
