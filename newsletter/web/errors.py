"""Domain and HTTP errors turned into pages: the domain raises its own exceptions, never HTTP ones.

One page per kind of `newsletter.errors` (404, 409, 400, 503, 403), a few more specific ones (log in,
CSRF, a broken template), and a 500 page for a bug (the server logs its traceback).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import RedirectResponse, Response

from newsletter.errors import Conflict, InvalidInput, NewsletterError, NotAllowed, NotFound, Unavailable
from newsletter.render.issue import TemplateError
from newsletter.web.admin.auth import AdminAuth, CsrfRejected, LoginRequired, login_url
from newsletter.web.pages import Pages

TITLES = {
    400: "That request didn't make sense",
    401: "Please log in",
    403: "Not allowed",
    404: "Page not found",
    405: "That isn't allowed here",
    409: "That can't be done now",
    500: "Something went wrong on our side",
    503: "Please try again in a little while",
}

# Each kind of domain error: the page's status code.
KIND_STATUS: dict[type[NewsletterError], int] = {
    NotFound: 404, Conflict: 409, InvalidInput: 400, Unavailable: 503, NotAllowed: 403,
}


def _sentence(text: str) -> str:
    text = text.strip().strip("'\"")
    return text[:1].upper() + text[1:] + ("" if not text or text.endswith(".") else ".")


def install_error_pages(app: FastAPI, pages: Pages, auth: AdminAuth | None = None) -> None:
    def find_admin(request: Request) -> None:
        # Under /admin a logged-in editor keeps the admin navigation, even where no route matched
        # (so no dependency looked the session up) or the route failed before it did.
        if auth is not None and request.url.path.startswith("/admin") and getattr(request.state, "admin", None) is None:
            try:
                request.state.admin = auth.current(request)
            except SQLAlchemyError:  # the database is down: the page still renders, without the nav
                pass

    def error_page(request: Request, status: int, title: str, detail: str = "") -> Response:
        find_admin(request)
        return pages.error(request, status, title, detail)

    async def login_required(request: Request, exc: Exception) -> Response:
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(login_url(target), status_code=303)
        return error_page(request, 401, TITLES[401], "Your session has ended. Log in and try again.")

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        detail = "The form was missing its security token. Go back, reload the page and try again."
        return error_page(request, 403, TITLES[403], detail)

    def domain_error(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def handle(request: Request, exc: Exception) -> Response:
            return error_page(request, status, TITLES[status], _sentence(str(exc)))

        return handle

    async def internal_error(request: Request, exc: Exception) -> Response:
        # Starlette raises the exception again after this page, so the server logs its traceback.
        return error_page(request, 500, TITLES[500], "It has been logged. Please try again later.")

    async def template_error(request: Request, exc: Exception) -> Response:
        # The message names the template and line, which is what the editor needs to fix it.
        find_admin(request)
        return pages.render(request, "template_error.html", 500, message=str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        title = TITLES.get(exc.status_code, "Something went wrong")
        response = error_page(request, exc.status_code, title)
        response.headers.update(exc.headers or {})
        return response

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        # A path value of the wrong type (/archive/x) names no page; anything else is a bad request.
        if all(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
            return error_page(request, 404, TITLES[404])
        return error_page(request, 400, TITLES[400])

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    for kind, status in KIND_STATUS.items():
        app.add_exception_handler(kind, domain_error(status))
    app.add_exception_handler(Exception, internal_error)
    app.add_exception_handler(TemplateError, template_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
