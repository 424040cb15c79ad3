"""Stored images, public at /media/<key>.<ext>: emails and the archive show them to anyone.

A key is the SHA-256 of the bytes, so what a URL names never changes: caches may keep it for a
year. Only 64 hex digits and a known extension reach the store; anything else is a 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from newsletter.media.store import MEDIA_NAME, MediaNotFound
from newsletter.services import Services

CACHE_FOREVER = "public, max-age=31536000, immutable"


def media_router(services: Services) -> APIRouter:
    router = APIRouter()

    @router.api_route("/media/{name}", methods=["GET", "HEAD"])
    def media(request: Request, name: str) -> Response:
        match = MEDIA_NAME.fullmatch(name)
        if match is None:
            return Response("Not found", status_code=404, media_type="text/plain")
        try:
            item = services.media.get(match["key"], match["ext"])
        except MediaNotFound:
            return Response("Not found", status_code=404, media_type="text/plain")
        etag = f'"{item.key}"'
        headers = {"cache-control": CACHE_FOREVER, "etag": etag, "x-content-type-options": "nosniff"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        body = b"" if request.method == "HEAD" else item.data
        headers["content-length"] = str(len(item.data))
        return Response(body, media_type=item.content_type, headers=headers)

    return router
