"""Rendering the Jinja2 pages, with the values every page shares, and one-shot flash messages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from newsletter.config import Settings, shipped_templates
from newsletter.issues.list_profile import load_list_name

FLASH_COOKIE = "newsletter_flash"
FLASH_MAX_AGE = 300
FLASH_MAX_TEXT = 1000  # cookies hold ~4 KB; error messages can be long
FAVICON = Path(__file__).resolve().parent / "static" / "favicon.svg"  # also /static/favicon.svg


def favicon() -> Response:
    """``/favicon.ico``: browsers ask for it on every page without a ``<link rel=icon>`` (the
    previews, raw files); an SVG under that name is understood by every current browser."""
    return FileResponse(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@dataclass(frozen=True)
class Flash:
    kind: str  # "ok" or "error"
    text: str


class Pages:
    """Renders templates/web/*.html; the project's own copies back up a custom templates_dir."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session] | None = None) -> None:
        loader = ChoiceLoader(
            [
                FileSystemLoader(settings.templates_dir / "web"),
                FileSystemLoader(shipped_templates() / "web"),
            ]
        )
        self._env = Environment(loader=loader, autoescape=True)
        self._settings = settings
        self._sessions = sessions  # with them, the list name the editor set (one primary-key read a page)
        self._flashes = URLSafeTimedSerializer(settings.secret_key, salt="flash")
        self._secure = settings.base_url.startswith("https://")

    def render(self, request: Request, template: str, status_code: int = 200, /, **context: Any) -> HTMLResponse:
        # Positional-only, so pages may pass context values called "name" or "request".
        flashes = self._take_flashes(request)
        admin = getattr(request.state, "admin", None)
        values: dict[str, Any] = {
            "list_name": self.list_name(),
            "admin": admin,
            "csrf_token": admin.csrf_token if admin is not None else "",
            "flashes": flashes,
            **context,
        }
        response = HTMLResponse(self._env.get_template(template).render(values), status_code=status_code)
        if flashes:
            response.delete_cookie(FLASH_COOKIE, path="/admin")
        return response

    def list_name(self) -> str:
        if self._sessions is None:
            return self._settings.list_name
        try:
            return load_list_name(self._sessions, self._settings)
        except SQLAlchemyError:  # an error page must still render when the database is down
            return self._settings.list_name

    def error(self, request: Request, status_code: int, title: str, detail: str = "") -> HTMLResponse:
        return self.render(request, "error.html", status_code, title=title, detail=detail)

    def flash(self, response: Response, kind: str, text: str) -> Response:
        """Attach a message for the page the (redirect) response leads to; only admin pages show them."""
        value = self._flashes.dumps([kind, text[:FLASH_MAX_TEXT]])
        response.set_cookie(
            FLASH_COOKIE,
            value,
            max_age=FLASH_MAX_AGE,
            path="/admin",
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )
        return response

    def _take_flashes(self, request: Request) -> list[Flash]:
        raw = request.cookies.get(FLASH_COOKIE)
        if not raw or not request.url.path.startswith("/admin"):
            return []
        try:
            kind, text = self._flashes.loads(raw, max_age=FLASH_MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            return []
        return [Flash(str(kind), str(text))]
