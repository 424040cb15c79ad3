"""Security headers added to every response the app sends."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Inline styles only (the layout's <style> and email HTML); scripts only from our own files
# (/static/editor.js: no inline script, no eval). Images may come from article sources over https,
# so the archive and preview show them.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' https: data:",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-src 'self'",
        "frame-ancestors 'self'",
    ]
)

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),  # for browsers that predate frame-ancestors
)

PRIVATE_PREFIXES = ("/admin", "/confirm/", "/unsubscribe/", "/preferences/", "/t/")


class SecurityHeaders:
    """Plain ASGI middleware (not BaseHTTPMiddleware) so streaming responses pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        # Admin pages and pages reached by a personal link must not sit in shared caches.
        private = scope["path"].startswith(PRIVATE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in HEADERS if name not in present]
                if private and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self._app(scope, receive, send_with_headers)
