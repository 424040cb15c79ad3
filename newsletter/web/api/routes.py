"""The JSON API: a FastAPI sub-application mounted at /api/v1, its schema at /api/v1/openapi.json.

Every route needs ``Authorization: Bearer <API token>``. Every error is
``{"error": "<sentence>", "status": <code>}``: 404 for unknown ids, 409 for a state conflict,
422 for bad input (with ``fields`` naming each field), 502 when the mail server refused a
message, 503 when the database is unavailable, 500 for a bug (logged with its traceback).
Domain modules raise `newsletter.errors` kinds; this module maps each kind once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.errors import Conflict, InvalidInput, NewsletterError, NotAllowed, NotFound, Unavailable
from newsletter.issues.publishing import PreflightFailed
from newsletter.schedule.weekly import ScheduleError
from newsletter.services import Services
from newsletter.web.api.ab import ab_router
from newsletter.web.api.articles import articles_router
from newsletter.web.api.auth import bearer_auth, install_api_auth_errors
from newsletter.web.api.issues import figures_router, issues_router
from newsletter.web.api.schemas import ApiError
from newsletter.web.api.sources import sources_router
from newsletter.web.api.subscribers import subscribers_router
from newsletter.web.api.audience import audience_router
from newsletter.web.api.webhooks import webhooks_router

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
DESCRIPTION = (
    "Issues, articles, subscribers, sources and figures for scripts and dashboards. Send `Authorization: Bearer "
    '<API token>` with every request. Errors are `{"error": "<sentence>", "status": <code>}`: 404 for an '
    "unknown id, 409 when the state does not allow it (e.g. the issue was sent), 422 for bad input with "
    "`fields` naming each field. Lists take `limit` (1-200) and `offset` and return `{\"items\", \"total\"}`."
)

# Declared on every route, so the schema lists every status the API can answer with.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ApiError, "description": "No API token, or an unknown or revoked one"},
    422: {"model": ApiError, "description": "Bad input; `fields` names each field and what is wrong"},
}

INTERNAL_ERROR = "Internal error: something broke on our side; it has been logged."


class NoStore:
    """Answers carry subscribers' data and change with every send: no cache may keep them."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Cache-Control"] = "no-store"
            await send(message)

        await self._app(scope, receive, send_no_store if scope["type"] == "http" else send)


class InternalErrors:
    """An exception no handler knows is a bug: logged with its traceback, answered 500 in the API's
    own JSON shape, and not raised further (the outer app would only log it a second time)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, watch)
        except Exception:
            log.exception("internal error in API %s %s", scope.get("method"), scope.get("path"))
            if started:  # the answer is half sent: nothing sensible can follow it
                raise
            await error_response(500, INTERNAL_ERROR)(scope, receive, send)


def error_response(
    status: int,
    message: str,
    fields: Iterable[tuple[str, str]] = (),
    problems: Iterable[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": message, "status": status}
    if fields:
        body["fields"] = [{"field": f, "message": m} for f, m in fields]
    if problems:
        body["problems"] = [{"code": c, "message": m} for c, m in problems]
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    if not text:
        return "Something went wrong."
    first = text.split(maxsplit=1)[0]
    # Capitalise a leading word, never a leading address (an email's case is the reader's).
    return (text if "@" in first else text[:1].upper() + text[1:]) + "."


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "to", 0) -> "to.0"; ("query", "limit") -> "limit"; ("body",) -> "body"
    rest = [str(part) for part in loc[1:]] if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    return ".".join(rest) or str(loc[0] if loc else "body")


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "is not valid"))
    return message.removeprefix("Value error, ")


def validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    path_errors = [e for e in errors if e.get("loc", ("",))[0] == "path"]
    if path_errors and len(path_errors) == len(errors):
        # A path value that is no id at all (/issues/abc) names nothing, as an unknown id does.
        loc = path_errors[0]["loc"]
        thing = str(loc[-1]).removesuffix("_id")
        return error_response(404, f"There is no {thing} {path_errors[0].get('input')!r}.")
    fields = [(_field_name(tuple(e.get("loc", ()))), _message(e)) for e in errors if e.get("loc", ("",))[0] != "path"]
    listed = "; ".join(f"{field}: {message}" for field, message in fields[:5])
    return error_response(422, f"The request is not valid: {listed}.", fields)


def install_api_errors(app: FastAPI) -> None:
    """Every error as ``{"error", "status"}`` JSON: one handler per kind of `newsletter.errors`,
    plus the framework's own (unknown path, bad JSON). Call once on the API sub-application."""

    def add(kind: type[Exception], handler: Callable[[Exception], Response]) -> None:
        async def handle(request: Request, exc: Exception) -> Response:
            return handler(exc)

        app.add_exception_handler(kind, handle)

    def http_error(exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400:  # a body that is not even text (bad UTF-8): bad input like any other
            return error_response(422, "The request body is not valid JSON.", [("body", str(exc.detail))])
        messages = {404: "There is no such path in the API", 405: "This path does not take that method"}
        message = messages.get(exc.status_code, str(exc.detail))
        return error_response(exc.status_code, _sentence(message), headers=dict(exc.headers or {}))

    def invalid_request(exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_response(exc)

    def not_found(exc: Exception) -> Response:
        return error_response(NotFound.http_status, _sentence(str(exc).strip("'\"")))

    def conflict(exc: Exception) -> Response:
        if isinstance(exc, PreflightFailed):  # the problems to fix, and how to send anyway
            problems = [(f.code, f.message) for f in exc.report.errors]
            return error_response(409, _sentence(f"{exc}. Fix them, or send with force: true"), problems=problems)
        return error_response(Conflict.http_status, _sentence(str(exc)))

    def invalid_input(exc: Exception) -> Response:
        errors: dict[str, str] | None = getattr(exc, "errors", None)
        if errors:  # per field (an article, an issue edit)
            rename = {"articles": "article_ids"}
            return error_response(422, _sentence(str(exc)), [(rename.get(k, k), v) for k, v in errors.items()])
        # The field the error is about: its own (an address is "email"); the API's only time is "at".
        field = getattr(exc, "field", None) or ("at" if isinstance(exc, ScheduleError) else "body")
        return error_response(422, _sentence(f"{field}: {exc}"), [(field, str(exc))])

    def unavailable(exc: Exception) -> Response:
        assert isinstance(exc, NewsletterError)
        return error_response(exc.http_status, _sentence(str(exc)))  # 502: the mail server; 503: the database

    def not_allowed(exc: Exception) -> Response:
        assert isinstance(exc, NewsletterError)
        return error_response(exc.http_status, _sentence(str(exc)))

    add(HTTPException, http_error)
    add(RequestValidationError, invalid_request)
    add(NotFound, not_found)
    add(Conflict, conflict)
    add(InvalidInput, invalid_input)
    add(Unavailable, unavailable)
    add(NotAllowed, not_allowed)  # ApiAuthFailed (401 with its challenge) has its own, in auth.py
    app.add_middleware(InternalErrors)


def api_app(services: Services) -> FastAPI:
    """The API for one Services object; mount it at API_PREFIX."""
    app = FastAPI(
        title=f"{services.settings.list_name} API",
        version="1",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    # The scheme is only declared here (auto_error off); bearer_auth does the checking.
    scheme = HTTPBearer(auto_error=False, description="an API token")
    protected = [Security(scheme), Depends(bearer_auth(services.api_tokens))]
    for router in (issues_router(services), ab_router(services), figures_router(services), articles_router(services),
                   subscribers_router(services), sources_router(services), audience_router(services),
                   webhooks_router(services)):
        app.include_router(router, dependencies=protected, responses=COMMON_RESPONSES)
    install_api_auth_errors(app)
    install_api_errors(app)
    app.add_middleware(NoStore)
    return app
