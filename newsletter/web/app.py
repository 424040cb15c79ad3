"""The app factory: routes wired to one Services object, with no module-level state."""

from __future__ import annotations

from fastapi import FastAPI

from newsletter.services import Services
from newsletter.web.admin import admin_router
from newsletter.web.admin_schedule import admin_schedule_router
from newsletter.web.admin_sources import admin_sources_router
from newsletter.web.admin_subscribers import admin_subscribers_router
from newsletter.web.api import api_router, install_api_errors
from newsletter.web.auth import AdminAuth, auth_router
from newsletter.web.errors import install_error_pages
from newsletter.web.pages import Pages
from newsletter.web.public import public_router
from newsletter.web.security import SecurityHeaders


def create_app(services: Services) -> FastAPI:
    """Build the web app; the caller owns ``services`` and closes it after the server stops."""
    settings = services.settings
    # No generated API docs: they would list every admin route. The JSON API lives under /api/v1.
    app = FastAPI(title=settings.list_name, docs_url=None, redoc_url=None, openapi_url=None)
    pages = Pages(settings)
    auth = AdminAuth(settings)
    app.include_router(public_router(services, pages))
    app.include_router(auth_router(auth, pages))
    app.include_router(admin_router(services, pages, auth))
    app.include_router(admin_schedule_router(services, pages, auth))
    app.include_router(admin_sources_router(services, pages, auth))
    app.include_router(admin_subscribers_router(services, pages, auth))
    app.include_router(api_router(services, auth))
    install_error_pages(app, pages)
    install_api_errors(app)  # after the pages: it sends /api/ errors as JSON, the rest to them
    app.add_middleware(SecurityHeaders)
    return app
