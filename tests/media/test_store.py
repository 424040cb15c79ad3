"""The folder store and the media library: stored once by content, private, found by key only;
remote images fetched once at ingest through the address-checked fetch."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from newsletter.config import load_settings
from newsletter.content.sources.safe_fetch import AddressPolicy, fetch
from newsletter.media.fetch import localise_images, web_fetch
from newsletter.media.store import FolderStore, Media, parse_media_url
from tests.media.images import jpeg, png

BASE = "https://news.example.org"


@pytest.fixture
def media(tmp_path: Path) -> Media:
    return Media(FolderStore(tmp_path / "media", BASE), BASE)


def test_the_same_image_is_stored_once(media: Media, tmp_path: Path) -> None:
    first = media.add(jpeg(2000, 1000), "a.jpg")
    again = media.add(jpeg(2000, 1000), "copy-of-a.jpg")
    assert first == again
    assert first.url == f"{BASE}/media/{first.key}.jpg" and len(first.key) == 64
    files = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert len(files) == 1
    assert not stat.S_IMODE(files[0].stat().st_mode) & 0o077  # private, like the rest of the data dir
    assert not stat.S_IMODE((tmp_path / "media").stat().st_mode) & 0o077


def test_keys_are_hex_only(media: Media) -> None:
    item = media.add(png())
    assert media.store.exists(item.key)
    for key in ("../../etc/passwd", item.key.upper(), item.key[:-1], "", "/" + item.key[1:]):
        assert not media.store.exists(key) and media.store.get(key) is None


def test_our_urls_are_recognised_and_checked(media: Media) -> None:
    item = media.add(png())
    assert parse_media_url(item.url, BASE) == (item.key, "png")
    assert not media.missing(item.url)
    assert media.missing(f"{BASE}/media/{'0' * 64}.png")
    assert not media.missing(f"https://elsewhere.example/media/{'0' * 64}.png")  # not ours: not checked


@dataclass(frozen=True)
class Picture:
    src: str
    alt: str = ""
    width: int | None = None
    height: int | None = None


def test_localise_images_fetches_each_remote_image_once(media: Media, httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/photo.jpg").respond_with_data(jpeg(1600, 800, gps=True),
                                                                        content_type="image/jpeg")
    httpserver.expect_oneshot_request("/gone.png").respond_with_data("no", status=404)
    photo, gone = httpserver.url_for("/photo.jpg"), httpserver.url_for("/gone.png")
    # Loopback is refused by default; the test server lives there, so this test allows it.
    policy = AddressPolicy(allow_private=True)
    blocks = [Picture(photo, "A photo"), {"type": "paragraph", "text": "words"}, {"type": "image", "src": photo},
              {"type": "image", "src": gone}]
    result = localise_images(blocks, media, lambda url: fetch(url, policy=policy))
    first, paragraph, second, kept = result.blocks
    assert isinstance(first, Picture) and first.src.startswith(f"{BASE}/media/") and first.src.endswith(".jpg")
    assert (first.width, first.height, first.alt) == (1200, 600, "A photo")
    assert second == {"type": "image", "src": first.src, "width": 1200, "height": 600}
    assert paragraph == {"type": "paragraph", "text": "words"} and kept == {"type": "image", "src": gone}
    assert len(result.warnings) == 1 and gone in result.warnings[0] and "404" in result.warnings[0]
    assert len(httpserver.log) == 2  # the photo once, though two blocks show it
    again = localise_images(result.blocks, media, lambda url: fetch(url, policy=policy))
    assert again.blocks[0] == first and len(httpserver.log) == 3  # ours: not fetched again (only gone.png)


def test_the_web_fetch_refuses_private_addresses_unless_allowed(media: Media, tmp_path: Path,
                                                                httpserver: HTTPServer) -> None:
    httpserver.expect_request("/p.png").respond_with_data(png(), content_type="image/png")
    url = httpserver.url_for("/p.png")
    settings = load_settings(data_dir=tmp_path / "var")
    refused = localise_images([{"src": url}], media, web_fetch(settings))
    assert refused.blocks == [{"src": url}] and "refused" in refused.warnings[0] and not httpserver.log
    allowed = localise_images([{"src": url}], media, web_fetch(settings.model_copy(update={"sources_allow_private": True})))
    assert allowed.blocks[0]["src"].startswith(f"{BASE}/media/") and not allowed.warnings
