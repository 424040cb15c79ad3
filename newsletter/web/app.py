"""The app factory: routes wired to one Services object, with no module-level state."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from newsletter.services import Services
from newsletter.web.admin.ab import admin_ab_router
from newsletter.web.admin.issues import admin_router
from newsletter.web.admin.articles import admin_articles_router
from newsletter.web.admin.design import admin_design_router
from newsletter.web.admin.editor import STATIC_DIR, admin_editor_router
from newsletter.web.admin.schedule import admin_schedule_router
from newsletter.web.admin.settings import admin_settings_router
from newsletter.web.admin.lists import admin_lists_router
from newsletter.web.admin.sources import admin_sources_router
from newsletter.web.admin.imports import admin_import_router
from newsletter.web.admin.subscribers import admin_subscribers_router
from newsletter.web.admin.audience import admin_audience_router
from newsletter.web.api.routes import API_PREFIX, api_app
from newsletter.web.admin.users import admin_users_router
from newsletter.web.admin.webhooks import admin_webhooks_router
from newsletter.web.admin.dashboard import admin_dashboard_router
from newsletter.web.admin.auth import AdminAuth, auth_router, install_auth_errors
from newsletter.web.errors import install_error_pages
from newsletter.web.pages import Pages, favicon
from newsletter.web.public.pages import public_router
from newsletter.web.security import SecurityHeaders
from newsletter.web.body_limit import BodyLimit
from newsletter.web.client_address import ClientAddress
from newsletter.web.public.tracking import tracking_router
from newsletter.web.public.provider_webhooks import provider_webhooks_router
from newsletter.inbound.providers.sns import SnsHttp
from newsletter.web.public.media import media_router
from newsletter.web.admin.media import admin_media_router


def create_app(services: Services, sns_http: SnsHttp | None = None) -> FastAPI:
    """Build the web app; the caller owns ``services`` and closes it after the server stops.

    ``sns_http``: how /webhooks/ses fetches SNS certificates and confirms subscriptions (tests
    pass their own; the default is plain HTTPS)."""
    settings = services.settings
    # No generated API docs: they would list every admin route. The JSON API lives under /api/v1.
    app = FastAPI(title=settings.list_name, docs_url=None, redoc_url=None, openapi_url=None)
    pages = Pages(settings, services.sessions)
    auth = AdminAuth(settings, services.sessions)
    app.include_router(public_router(services, pages))
    app.include_router(tracking_router(services, pages))
    app.include_router(provider_webhooks_router(services, sns_http))  # machines: no CSRF, no session
    app.include_router(media_router(services))  # /media/<key>.<ext>: stored images
    app.include_router(auth_router(auth, pages))
    app.include_router(admin_router(services, pages, auth))
    app.include_router(admin_editor_router(services, pages, auth))
    app.include_router(admin_ab_router(services, pages, auth))
    app.include_router(admin_articles_router(services, pages, auth))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")  # editor.js
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
    app.include_router(admin_schedule_router(services, pages, auth))
    app.include_router(admin_lists_router(services, pages, auth))
    app.include_router(admin_sources_router(services, pages, auth))
    app.include_router(admin_subscribers_router(services, pages, auth))
    app.include_router(admin_audience_router(services, pages, auth))
    app.include_router(admin_import_router(services, pages, auth))
    app.include_router(admin_settings_router(services, pages, auth))
    app.include_router(admin_design_router(services, pages, auth))
    app.include_router(admin_media_router(services, pages, auth))
    app.include_router(admin_users_router(services.api_tokens, pages, auth))
    app.include_router(admin_webhooks_router(services, pages, auth))
    app.include_router(admin_dashboard_router(services, pages, auth))
    app.mount(API_PREFIX, api_app(services))  # its own app: JSON errors, schema at /api/v1/openapi.json
    install_error_pages(app, pages, auth)  # auth: admin error pages keep the admin navigation
    install_auth_errors(app, pages)
    app.add_middleware(BodyLimit)  # inside SecurityHeaders, so its 413 gets the headers too
    app.add_middleware(SecurityHeaders)
    # Outermost: every part below (limits, lock-outs, uvicorn's access log) sees one client address.
    app.add_middleware(ClientAddress, proxies=settings.trusted_proxy_networks)
    return app
