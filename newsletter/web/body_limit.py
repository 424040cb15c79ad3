"""A cap on request bodies, applied before anything reads them whole.

FastAPI reads a JSON or form body into memory before validation (and before the API's bearer
check), so without a cap anyone could make a process hold gigabytes. A declared Content-Length
over the cap is answered 413 at once, without reading a byte; a body without one (chunked) is
counted as it streams and refused once it passes the cap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MB = 1024 * 1024
# The biggest API request is an article: 100,000 characters of Markdown, which JSON may write as
# 12 bytes each (an escaped surrogate pair), plus its other fields: 2 MB is enough for any valid one.
API_MAX_BODY = 2 * MB
# Admin forms: an article's body as a form field (up to 12 bytes a character percent-encoded),
# a custom template of at most 800 KB (web/admin/design.py); public forms are far smaller.
DEFAULT_MAX_BODY = 8 * MB
# (path prefix, limit, answer in the API's JSON shape); first match wins; None = no cap here.
LIMITS: tuple[tuple[str, int | None, bool], ...] = (
    ("/admin/import", None, False),  # CSV imports: streamed to disk under their own 200 MB limit (web/admin/imports.py)
    ("/api/", API_MAX_BODY, True),
    # Image uploads (web/admin/media.py, the design's logo): 10 MB images, plus the form around them.
    ("/admin/media", 11 * MB, False),
    ("/admin/design/logo", 11 * MB, False),
)


def _too_large(limit: int) -> HTTPException:
    """A plain Starlette HTTPException (a boundary answer, not a domain error), so FastAPI's body
    parsing passes it on as it is (any other error while reading becomes a 400)."""
    return HTTPException(413, f"The request body is larger than {limit / MB:g} MB")


class BodyLimit:
    """Plain ASGI middleware (as security.py): the streaming body passes through, counted."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Sequence[tuple[str, int | None, bool]] = LIMITS,
        default: int | None = DEFAULT_MAX_BODY,
    ) -> None:
        self._app = app
        self._limits = tuple(limits)
        self._default = default

    def _limit(self, path: str) -> tuple[int | None, bool]:
        for prefix, limit, as_json in self._limits:
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                return limit, as_json
        return self._default, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit, as_json = self._limit(scope["path"])
        if limit is None:
            await self._app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), b"")
        if declared.strip().isdigit() and int(declared) > limit:
            await _refuse(send, limit, as_json)  # nothing of the body read
            return

        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted, watch)
        except HTTPException as exc:
            if exc.status_code != 413 or started:  # an answer is half sent: nothing sensible can follow it
                raise
            await _refuse(send, limit, as_json)


async def _refuse(send: Send, limit: int, as_json: bool) -> None:
    message = str(_too_large(limit).detail) + "."
    if as_json:
        body = json.dumps({"error": message, "status": 413}).encode()
        kind = b"application/json"
    else:
        body, kind = message.encode(), b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"connection", b"close"),  # the rest of the body is never read: the connection cannot be reused
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
