"""``POST /webhooks/{ses,mailgun,postmark,sendgrid}``: the relays' event webhooks.

Machines call these: no CSRF token, no session, the app's body limit; the raw body goes to the
domain (`inbound.providers.receiver`) as it came, because the signatures are over its bytes.
Domain errors are mapped here once, to JSON: a provider that is off 404, a forged request 403,
a bad body 422, a dead database 503 (the provider retries); anything else is a bug (500).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from newsletter.db.base import utcnow
from newsletter.errors import NewsletterError, kind_of
from newsletter.inbound.providers.events import ForgedEvent, ProviderNotConfigured
from newsletter.inbound.providers.receiver import ProviderWebhooks, Received
from newsletter.inbound.providers.sns import SnsHttp
from newsletter.services import Services

log = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store"}


def _answer(call: Callable[[], Received]) -> JSONResponse:
    try:
        received = call()
    except NewsletterError as exc:
        status = exc.http_status if kind_of(exc) is not None else 500
        if isinstance(exc, ForgedEvent):
            log.warning("provider webhook refused: %s", exc)
        elif not isinstance(exc, ProviderNotConfigured):
            log.info("provider webhook: %s", exc)
        return JSONResponse({"ok": False, "error": str(exc)}, status_code=status, headers=NO_STORE)
    return JSONResponse(received.as_dict(), headers=NO_STORE)


def provider_webhooks_router(services: Services, sns_http: SnsHttp | None = None) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    webhooks = ProviderWebhooks(services, sns_http)

    @router.post("/webhooks/ses")
    async def ses(request: Request) -> JSONResponse:
        body = await request.body()
        return await _threaded(partial(webhooks.ses, body))

    @router.post("/webhooks/mailgun")
    async def mailgun(request: Request) -> JSONResponse:
        body = await request.body()
        return await _threaded(partial(webhooks.mailgun, body, utcnow()))

    @router.post("/webhooks/postmark")
    async def postmark(request: Request) -> JSONResponse:
        body = await request.body()
        return await _threaded(partial(webhooks.postmark, body, request.headers.get("authorization")))

    @router.post("/webhooks/sendgrid")
    async def sendgrid(request: Request) -> JSONResponse:
        body = await request.body()
        headers = request.headers
        return await _threaded(partial(webhooks.sendgrid, body, headers.get("x-twilio-email-event-webhook-signature"),
                                       headers.get("x-twilio-email-event-webhook-timestamp"), utcnow()))

    return router


async def _threaded(call: Callable[[], Received]) -> JSONResponse:
    # The database and the SNS certificate fetch block: off the event loop.
    return await run_in_threadpool(_answer, call)
