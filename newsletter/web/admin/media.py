"""Uploading an image in the admin: POST /admin/media (multipart, CSRF, any logged-in editor).

JavaScript callers (``Accept: application/json``, static/media.js) get the stored image as JSON
and insert its Markdown themselves; a plain form is sent back to the page it came from with the
Markdown to paste in a message, so the picker works without JavaScript.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from starlette.responses import JSONResponse, RedirectResponse, Response

from newsletter.media.images import MAX_UPLOAD_BYTES, ImageRejected
from newsletter.media.store import MediaItem
from newsletter.services import Services
from newsletter.web.admin.auth import AdminAuth, AdminSession, safe_next
from newsletter.web.pages import Pages

MAX_ALT = 300


def markdown_image(alt: str, url: str) -> str:
    """``![alt](url)`` with the alt text kept on one line and its brackets escaped."""
    text = " ".join(alt.split())[:MAX_ALT]
    text = text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"![{text}]({url})"


def read_upload(upload: UploadFile | None) -> bytes:
    """The uploaded file's bytes, at most one byte over the limit (so the check can say so)."""
    if upload is None:
        raise ImageRejected("choose an image file to upload")
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if not data:
        raise ImageRejected("choose an image file to upload")
    return data


def item_json(item: MediaItem, alt: str) -> dict[str, object]:
    return {"url": item.url, "width": item.width, "height": item.height, "key": item.key,
            "content_type": item.content_type, "bytes": item.size, "markdown": markdown_image(alt, item.url)}


def admin_media_router(services: Services, pages: Pages, auth: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[Depends(auth.require)])
    csrf = Depends(auth.require_csrf)  # a default, not an Annotated alias: see admin/design.py

    # Plain def: decoding and re-encoding an image is CPU work, done in the thread pool.
    @router.post("/media")
    def upload(
        request: Request,
        image: Annotated[UploadFile | None, File()] = None,
        alt: Annotated[str, Form()] = "",
        next_path: Annotated[str, Form(alias="next")] = "/admin/articles",
        _: AdminSession = csrf,
    ) -> Response:
        wants_json = "application/json" in request.headers.get("accept", "")
        back = safe_next(next_path)
        try:
            item = services.media.add(read_upload(image), name_hint=(image.filename or "") if image else "")
        except ImageRejected as exc:
            if wants_json:
                return JSONResponse({"error": str(exc)}, status_code=422)
            return pages.flash(RedirectResponse(back, status_code=303), "error", f"The image was not stored: {exc}")
        if wants_json:
            return JSONResponse(item_json(item, alt), status_code=201)
        text = (f"Image stored ({item.width} x {item.height} px). Put it in an article with: "
                f"{markdown_image(alt or 'describe the image', item.url)}")
        return pages.flash(RedirectResponse(back, status_code=303), "ok", text)

    return router
