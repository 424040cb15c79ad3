"""The app factory: routes wired to one Services object, with no module-level state."""

from __future__ import annotations

from fastapi import FastAPI

from newsletter.services import Services
from newsletter.web.admin import admin_router
from newsletter.web.auth import AdminAuth, auth_router
from newsletter.web.errors import install_error_pages
from newsletter.web.pages import Pages
from newsletter.web.public import public_router
from newsletter.web.security import SecurityHeaders


def create_app(services: Services) -> FastAPI:
    """Build the web app; the caller owns ``services`` and closes it after the server stops."""
    settings = services.settings
    # No JSON API yet, so no generated API docs either.
    app = FastAPI(title=settings.list_name, docs_url=None, redoc_url=None, openapi_url=None)
    pages = Pages(settings)
    auth = AdminAuth(settings)
    app.include_router(public_router(services, pages))
    app.include_router(auth_router(auth, pages))
    app.include_router(admin_router(services, pages, auth))
    install_error_pages(app, pages)
    app.add_middleware(SecurityHeaders)
    return app
