"""Where images live: a small interface and a folder under the data directory.

Keys are the SHA-256 of the stored bytes (hex), so the same image is stored once and a key can
never name a path outside the store. The folder keeps ``<media dir>/<2 hex>/<key>.<ext>``,
private like the rest of the data directory; an object store can take its place behind
``MediaStore``. ``Media`` is what the app uses: process (images.py), then store.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from newsletter.config import Settings
from newsletter.errors import NotFound
from newsletter.media.images import CONTENT_TYPES, EXTENSIONS, ImageRejected, dimensions, process

KEY = re.compile(r"[0-9a-f]{64}")
# What the public route serves: /media/<key>.<ext>, nothing else.
MEDIA_NAME = re.compile(r"(?P<key>[0-9a-f]{64})\.(?P<ext>jpg|png)")
MEDIA_PATH = "/media/"


class MediaNotFound(NotFound):
    """No stored image has this key."""


@dataclass(frozen=True)
class MediaItem:
    key: str  # sha256 of the stored bytes, hex
    url: str  # absolute: NEWSLETTER_BASE_URL/media/<key>.<ext>
    width: int
    height: int
    content_type: str
    size: int  # bytes

    @property
    def ext(self) -> str:
        return EXTENSIONS[self.content_type]


@dataclass(frozen=True)
class StoredMedia:
    key: str
    ext: str
    content_type: str
    data: bytes


class MediaStore(Protocol):
    """Stored image bytes by key; the bytes are already processed (images.process)."""

    def put(self, data: bytes, content_type: str, name_hint: str = "") -> MediaItem: ...

    def get(self, key: str) -> StoredMedia | None: ...

    def exists(self, key: str) -> bool: ...

    def ext_of(self, key: str) -> str | None:
        """The stored image's extension, or None when it is not stored: without reading it."""
        ...


def media_url(base_url: str, key: str, ext: str) -> str:
    return f"{base_url.rstrip('/')}{MEDIA_PATH}{key}.{ext}"


def parse_media_url(url: str, base_url: str) -> tuple[str, str] | None:
    """(key, ext) when ``url`` is one of our own /media/ URLs, else None."""
    base = urlsplit(base_url.rstrip("/"))
    parts = urlsplit(url.strip())
    if (parts.scheme, parts.netloc.lower()) != (base.scheme, base.netloc.lower()):
        return None
    prefix = base.path.rstrip("/") + MEDIA_PATH
    if not parts.path.startswith(prefix):
        return None
    match = MEDIA_NAME.fullmatch(parts.path[len(prefix):])
    return (match["key"], match["ext"]) if match else None


class FolderStore:
    """Images as files in one folder; writes are atomic (a temporary file renamed into place)."""

    def __init__(self, root: Path, base_url: str) -> None:
        self._root = root
        self._base_url = base_url

    def _path(self, key: str, ext: str) -> Path:
        return self._root / key[:2] / f"{key}.{ext}"

    def _find(self, key: str) -> Path | None:
        if not KEY.fullmatch(key):
            return None  # never a path from anything but 64 hex digits
        for ext in CONTENT_TYPES:
            path = self._path(key, ext)
            if path.is_file():
                return path
        return None

    def put(self, data: bytes, content_type: str, name_hint: str = "") -> MediaItem:
        # name_hint: an object store may keep it as metadata; a content-addressed file needs none.
        ext = EXTENSIONS[content_type]
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key, ext)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._root.chmod(0o700)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")  # mode 0600
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        width, height = dimensions(data)
        return MediaItem(key, media_url(self._base_url, key, ext), width, height, content_type, len(data))

    def get(self, key: str) -> StoredMedia | None:
        path = self._find(key)
        if path is None:
            return None
        ext = path.suffix.lstrip(".")
        return StoredMedia(key, ext, CONTENT_TYPES[ext], path.read_bytes())

    def exists(self, key: str) -> bool:
        return self._find(key) is not None

    def ext_of(self, key: str) -> str | None:
        path = self._find(key)
        return path.suffix.lstrip(".") if path is not None else None


class Media:
    """The media library: images checked and cleaned, then stored once."""

    def __init__(self, store: MediaStore, base_url: str) -> None:
        self.store = store
        self.base_url = base_url

    def add(self, data: bytes, name_hint: str = "") -> MediaItem:
        """Store an uploaded or fetched image; ImageRejected (InvalidInput) says why not."""
        image = process(data)
        return self.store.put(image.data, image.content_type, name_hint)

    def is_ours(self, url: str) -> bool:
        return parse_media_url(url, self.base_url) is not None

    def missing(self, url: str) -> bool:
        """True when ``url`` names one of our images that is not (or no longer) stored."""
        found = parse_media_url(url, self.base_url)
        return found is not None and not self._stored(*found)

    def _stored(self, key: str, ext: str) -> bool:
        # A stat, not a read: every render asks this of the logo (render.logo).
        return self.store.ext_of(key) == ext

    def size_of(self, url: str) -> tuple[int, int] | None:
        """The pixel size of one of our stored images, or None (not ours, not stored): for renders
        that give an image's width and height (Outlook sizes images by them)."""
        found = parse_media_url(url, self.base_url)
        if found is None or not KEY.fullmatch(found[0]):
            return None
        item = self.store.get(found[0])
        if item is None or item.ext != found[1]:
            return None
        try:
            return dimensions(item.data)
        except (OSError, ValueError):  # stored by us, so checked; a damaged file is only not sized
            return None

    def get(self, key: str, ext: str) -> StoredMedia:
        item = self.store.get(key) if KEY.fullmatch(key) else None
        if item is None or item.ext != ext:
            raise MediaNotFound(f"no image {key[:64]}.{ext[:8]}")
        return item


def media_of(settings: Settings) -> Media:
    """The media library the Settings name: the one ``Services.build`` hands out, and the one a
    render that is given none looks its images up in (a stat per image, no network)."""
    return Media(FolderStore(settings.media_path, settings.base_url), settings.base_url)


__all__ = ["FolderStore", "ImageRejected", "Media", "MediaItem", "MediaNotFound", "MediaStore", "StoredMedia",
           "media_of", "media_url", "parse_media_url"]
