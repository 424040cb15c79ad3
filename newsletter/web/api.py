"""The JSON API: a send's progress, and pause, resume and cancel, for scripts and dashboards.

Authentication until API tokens arrive (issue #7): HTTP Basic with any user name and the admin
password. Browsers replay cached Basic credentials on cross-site form posts, so state-changing
calls from another origin are refused.
"""

from __future__ import annotations

from collections.abc import Callable

import base64
import binascii
import inspect
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from newsletter.publishing import IssueNotFound, IssueStateError
from newsletter.services import Services
from newsletter.web.auth import AdminAuth

API_PREFIX = "/api/v1"
AUTHENTICATE = 'Basic realm="newsletter API", charset="UTF-8"'
NO_STORE = {"Cache-Control": "no-store"}


class ApiAuthRequired(Exception):
    """No or wrong HTTP Basic credentials on an API request."""


class CrossSiteRejected(Exception):
    """A state-changing API request sent by a page on another site."""


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers={**NO_STORE, **(headers or {})})


def basic_password(request: Request) -> str | None:
    """The password of an ``Authorization: Basic`` header (RFC 7617, UTF-8), or None."""
    scheme, _, param = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, colon, password = decoded.partition(":")
    return password if colon else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def api_router(services: Services, auth: AdminAuth) -> APIRouter:
    site_origin = _origin(services.settings.base_url)
    publisher = services.publisher

    def require_password(request: Request) -> None:
        password = basic_password(request)
        if password is None or not auth.password_ok(password):
            raise ApiAuthRequired()

    def same_origin_only(request: Request) -> None:
        # Scripts (curl, cron jobs) send neither header; browsers send at least one of them.
        fetch_site = request.headers.get("sec-fetch-site")
        origin = request.headers.get("origin")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            raise CrossSiteRejected()
        if origin is not None and origin.lower() != site_origin:
            raise CrossSiteRejected()

    # Defaults rather than Annotated aliases: with postponed annotations FastAPI resolves
    # annotation strings in module globals, where these local functions do not exist.
    router = APIRouter(prefix=API_PREFIX, dependencies=[Depends(require_password)])
    changes = [Depends(same_origin_only)]

    def current(issue_id: int, **extra: Any) -> JSONResponse:
        return json_response({**publisher.progress(issue_id).as_dict(), **extra})

    def not_found(exc: IssueNotFound) -> JSONResponse:
        return json_response({"detail": str(exc)}, 404)

    def transition(issue_id: int, change: Callable[[int], int | None], key: str = "") -> JSONResponse:
        """Run a send-state change; the answer is the issue's status after it (409 if refused)."""
        try:
            result = change(issue_id)
            return current(issue_id, **({key: result} if key else {}))
        except IssueNotFound as exc:
            return not_found(exc)
        except IssueStateError as exc:
            return json_response({"detail": str(exc)}, 409)

    @router.get("/issues/{issue_id}/status")
    def issue_status(issue_id: int) -> Response:
        try:
            return current(issue_id)
        except IssueNotFound as exc:
            return not_found(exc)

    @router.post("/issues/{issue_id}/pause", dependencies=changes)
    def pause(issue_id: int) -> Response:
        return transition(issue_id, publisher.pause)

    @router.post("/issues/{issue_id}/resume", dependencies=changes)
    def resume(issue_id: int) -> Response:
        return transition(issue_id, publisher.resume)

    @router.post("/issues/{issue_id}/cancel", dependencies=changes)
    def cancel(issue_id: int) -> Response:
        return transition(issue_id, publisher.cancel, key="skipped")

    return router


def install_api_errors(app: FastAPI) -> None:
    """JSON errors under /api/; other paths keep their error pages. Call after install_error_pages."""

    def is_api(request: Request) -> bool:
        return request.url.path == API_PREFIX or request.url.path.startswith(API_PREFIX + "/")

    async def auth_required(request: Request, exc: Exception) -> Response:
        detail = "Authentication required: HTTP Basic with the admin password."
        return json_response({"detail": detail}, 401, {"WWW-Authenticate": AUTHENTICATE})

    async def cross_site(request: Request, exc: Exception) -> Response:
        return json_response({"detail": "Requests from other sites are not allowed."}, 403)

    def api_first(kind: type[Exception], to_json: Any) -> None:
        page_handler = app.exception_handlers.get(kind)

        async def handler(request: Request, exc: Exception) -> Response:
            if is_api(request) or page_handler is None:
                response: Response = to_json(exc)
                return response
            result = page_handler(request, exc)
            return await result if inspect.isawaitable(result) else result

        app.add_exception_handler(kind, handler)

    def http_error(exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return json_response({"detail": exc.detail}, exc.status_code, dict(exc.headers or {}))

    def validation_error(exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # A path value of the wrong type (/issues/x/status) names no resource.
        if all(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
            return json_response({"detail": "Not Found"}, 404)
        return json_response({"detail": "Bad Request"}, 400)

    app.add_exception_handler(ApiAuthRequired, auth_required)
    app.add_exception_handler(CrossSiteRejected, cross_site)
    api_first(HTTPException, http_error)
    api_first(RequestValidationError, validation_error)
