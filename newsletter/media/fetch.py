"""Images named by URL in Markdown or feeds, fetched once at ingest and kept in the media store.

An image left on someone else's server can change, vanish or track every reader who opens the
email; a copy in our store cannot. ``localise_images`` takes the article's blocks, fetches each
remote image through the address-checked fetch (content/sources/safe_fetch.py: no loopback or
private addresses unless NEWSLETTER_SOURCES_ALLOW_PRIVATE, size and time capped), stores it and
points the block at our copy. A failure keeps the original src and adds a warning: an article is
never lost for an image.

Blocks are whatever the content package defines: mappings or objects (dataclasses, frozen or
not) with ``src``, ``width`` and ``height``; anything without a ``src`` is passed through.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.media.store import Media, MediaItem

Fetch = Callable[[str], bytes]  # URL -> body; raises a NewsletterError (Unavailable, InvalidInput) on failure


class ImageBlock(Protocol):
    """The shape of an image block this module reads: an object with these attributes (or a
    mapping with these keys)."""

    src: str
    width: int | None
    height: int | None


@dataclass
class Localised:
    blocks: list[Any]
    warnings: list[str] = field(default_factory=list)
    stored: dict[str, MediaItem] = field(default_factory=dict)  # original URL -> our copy


def web_fetch(settings: Settings) -> Fetch:
    """The address-checked fetch of feeds, for images (the same 10 MB cap as uploads)."""
    from newsletter.content.sources.safe_fetch import AddressPolicy, fetch

    policy = AddressPolicy(allow_private=settings.sources_allow_private)
    return lambda url: fetch(url, policy=policy)


def _src(block: object) -> str | None:
    value = block.get("src") if isinstance(block, Mapping) else getattr(block, "src", None)
    return value if isinstance(value, str) else None


def _with(block: Any, item: MediaItem) -> Any:
    changes = {"src": item.url, "width": item.width, "height": item.height}
    if isinstance(block, Mapping):
        return {**block, **changes}
    if dataclasses.is_dataclass(block) and not isinstance(block, type):
        names = {f.name for f in dataclasses.fields(block)}
        return dataclasses.replace(block, **{k: v for k, v in changes.items() if k in names})
    for name, value in changes.items():  # a plain object: changed in place
        setattr(block, name, value)
    return block


def _remote(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def localise_images(blocks: Sequence[Any], media: Media, fetch: Fetch) -> Localised:
    """Each image block with a remote http(s) src that is not ours: fetched (once per URL),
    stored, and its src, width and height pointed at our copy."""
    result = Localised(blocks=[])
    failed: set[str] = set()
    for block in blocks:
        src = _src(block)
        if src is None or not _remote(src.strip()) or media.is_ours(src):
            result.blocks.append(block)
            continue
        url = src.strip()
        item = result.stored.get(url)
        if item is None and url not in failed:
            try:
                item = media.add(fetch(url), name_hint=urlsplit(url).path.rsplit("/", 1)[-1])
            except NewsletterError as exc:
                failed.add(url)
                result.warnings.append(f"image {url[:200]} was not stored, the original address is kept: {exc}")
            else:
                result.stored[url] = item
        result.blocks.append(_with(block, item) if item is not None else block)
    return result


def ingest_localiser(media: Media, settings: Settings) -> Callable[[list[dict[str, Any]]], tuple[list[dict[str, Any]], list[str]]]:
    """``localise_images`` in the shape ingest takes (content.ingest.load.LocaliseImages)."""
    fetch = web_fetch(settings)

    def localise(blocks: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        result = localise_images(blocks, media, fetch)
        return list(result.blocks), result.warnings

    return localise
