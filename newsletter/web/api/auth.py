"""Bearer-token authentication for the JSON API: a FastAPI dependency and its 401 JSON answer."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from newsletter.errors import NotAllowed
from newsletter.accounts.api_tokens import ApiTokenInfo, ApiTokens

AUTHENTICATE = 'Bearer realm="newsletter API"'


class ApiAuthFailed(NotAllowed):
    """No, malformed, unknown or revoked bearer token; the message says which, without leaking more."""

    http_status = 401

    def __init__(self, message: str, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.error = error  # RFC 6750 error code for WWW-Authenticate


def bearer_token(request: Request) -> str | None:
    scheme, _, param = request.headers.get("authorization", "").partition(" ")
    token = param.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def bearer_auth(tokens: ApiTokens) -> Callable[[Request], ApiTokenInfo]:
    """A dependency: ``Depends(bearer_auth(services.api_tokens))`` gives the caller's token, or 401."""

    def require_token(request: Request) -> ApiTokenInfo:
        raw = bearer_token(request)
        if raw is None:
            raise ApiAuthFailed("Authentication required: send 'Authorization: Bearer <API token>'.", "")
        info = tokens.verify(raw)
        if info is None:
            raise ApiAuthFailed("That API token is not valid: it is unknown or was revoked.")
        request.state.api_token = info
        return info

    return require_token


def install_api_auth_errors(app: FastAPI) -> None:
    async def auth_failed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiAuthFailed)
        challenge = AUTHENTICATE + (f', error="{exc.error}"' if exc.error else "")
        return JSONResponse(
            {"error": str(exc), "status": 401},
            status_code=401,
            headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
        )

    app.add_exception_handler(ApiAuthFailed, auth_failed)
