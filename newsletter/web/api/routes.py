"""The JSON API: a FastAPI sub-application mounted at /api/v1, its schema at /api/v1/openapi.json.

Every route needs ``Authorization: Bearer <API token>``. Every error is
``{"error": "<sentence>", "status": <code>}``: 404 for unknown ids, 409 for a state conflict,
422 for bad input (with ``fields`` naming each field), 502 when the mail server refused a
message. Domain modules raise their own errors; this module maps them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.readers.addresses import InvalidAddress
from newsletter.content.articles import ArticleNotFound, InvalidArticle
from newsletter.issues.compose import ComposeError
from newsletter.schedule.weekly import ScheduleError
from newsletter.readers.history import SubscriberNotFound
from newsletter.issues.editor import InvalidIssueEdit, IssueNotEditable
from newsletter.issues.publishing import IssueNotFound, IssueStateError, PreflightFailed, TestSendFailed
from newsletter.render.issue import TemplateError
from newsletter.services import Services
from newsletter.readers.roster import DuplicateSubscriber
from newsletter.readers.subscriptions import ConfirmationNotSent, StatusChangeRefused
from newsletter.web.api.articles import articles_router
from newsletter.web.api.auth import bearer_auth, install_api_auth_errors
from newsletter.web.api.issues import figures_router, issues_router
from newsletter.web.api.schemas import ApiError
from newsletter.web.api.subscribers import SubscriberSuppressed, subscribers_router

API_PREFIX = "/api/v1"
DESCRIPTION = (
    "Issues, articles, subscribers and figures for scripts and dashboards. Send `Authorization: Bearer "
    '<API token>` with every request. Errors are `{"error": "<sentence>", "status": <code>}`: 404 for an '
    "unknown id, 409 when the state does not allow it (e.g. the issue was sent), 422 for bad input with "
    "`fields` naming each field. Lists take `limit` (1-200) and `offset` and return `{\"items\", \"total\"}`."
)

# Declared on every route, so the schema lists every status the API can answer with.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ApiError, "description": "No API token, or an unknown or revoked one"},
    422: {"model": ApiError, "description": "Bad input; `fields` names each field and what is wrong"},
}

# Domain errors by HTTP status; a subclass may be listed under another status than its base.
NOT_FOUND = (IssueNotFound, ArticleNotFound, SubscriberNotFound)
CONFLICT = (IssueStateError, IssueNotEditable, ComposeError, DuplicateSubscriber, StatusChangeRefused,
            SubscriberSuppressed, TemplateError)
BAD_GATEWAY = (TestSendFailed, ConfirmationNotSent)


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
    """Every error as ``{"error", "status"}`` JSON; call once on the API sub-application."""

    def add(kinds: Iterable[type[Exception]], handler: Callable[[Exception], Response]) -> None:
        async def handle(request: Request, exc: Exception) -> Response:
            return handler(exc)

        for kind in kinds:
            app.add_exception_handler(kind, handle)

    def http_error(exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400:  # a body that is not even text (bad UTF-8): bad input like any other
            return error_response(422, "The request body is not valid JSON.", [("body", str(exc.detail))])
        messages = {404: "There is no such path in the API", 405: "This path does not take that method"}
        message = messages.get(exc.status_code, str(exc.detail))
        return error_response(exc.status_code, _sentence(message), headers=dict(exc.headers or {}))

    def invalid(exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_response(exc)

    def per_field(exc: Exception) -> Response:
        errors: dict[str, str] = getattr(exc, "errors", {})
        field = {"articles": "article_ids"}
        return error_response(422, _sentence(str(exc)), [(field.get(k, k), v) for k, v in errors.items()])

    def bad_address(exc: Exception) -> Response:
        return error_response(422, _sentence(f"email: {exc}"), [("email", str(exc))])

    def bad_time(exc: Exception) -> Response:
        return error_response(422, _sentence(f"at: {exc}"), [("at", str(exc))])

    def preflight(exc: Exception) -> Response:
        assert isinstance(exc, PreflightFailed)
        problems = [(f.code, f.message) for f in exc.report.errors]
        message = f"{exc}. Fix them, or send with force: true"
        return error_response(409, _sentence(message), problems=problems)

    add([HTTPException], http_error)
    add([RequestValidationError], invalid)
    add(NOT_FOUND, lambda exc: error_response(404, _sentence(str(exc).strip("'\""))))
    add(CONFLICT, lambda exc: error_response(409, _sentence(str(exc))))
    add([PreflightFailed], preflight)
    add([InvalidArticle, InvalidIssueEdit], per_field)
    add([InvalidAddress], bad_address)
    add([ScheduleError], bad_time)
    add(BAD_GATEWAY, lambda exc: error_response(502, _sentence(str(exc))))


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
    for router in (issues_router(services), figures_router(services), articles_router(services),
                   subscribers_router(services)):
        app.include_router(router, dependencies=protected, responses=COMMON_RESPONSES)
    install_api_auth_errors(app)
    install_api_errors(app)
    app.add_middleware(NoStore)
    return app
