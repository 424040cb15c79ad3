"""Domain and HTTP errors turned into pages: the domain raises its own exceptions, never HTTP ones."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from newsletter.issues.publishing import IssueNotFound
from newsletter.render.issue import TemplateError
from newsletter.web.admin.auth import CsrfRejected, LoginRequired, login_url
from newsletter.web.pages import Pages

TITLES = {
    400: "That request didn't make sense",
    401: "Please log in",
    403: "Not allowed",
    404: "Page not found",
    405: "That isn't allowed here",
}


def install_error_pages(app: FastAPI, pages: Pages) -> None:
    async def login_required(request: Request, exc: Exception) -> Response:
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(login_url(target), status_code=303)
        return pages.error(request, 401, TITLES[401], "Your session has ended. Log in and try again.")

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        detail = "The form was missing its security token. Go back, reload the page and try again."
        return pages.error(request, 403, TITLES[403], detail)

    async def issue_not_found(request: Request, exc: Exception) -> Response:
        return pages.error(request, 404, "No such issue", str(exc))

    async def template_error(request: Request, exc: Exception) -> Response:
        # The message names the template and line, which is what the editor needs to fix it.
        return pages.render(request, "template_error.html", 500, message=str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        title = TITLES.get(exc.status_code, "Something went wrong")
        response = pages.error(request, exc.status_code, title)
        response.headers.update(exc.headers or {})
        return response

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        # A path value of the wrong type (/archive/x) names no page; anything else is a bad request.
        if all(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
            return pages.error(request, 404, TITLES[404])
        return pages.error(request, 400, TITLES[400])

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.add_exception_handler(IssueNotFound, issue_not_found)
    app.add_exception_handler(TemplateError, template_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
