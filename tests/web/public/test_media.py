"""Stored images served at /media/<key>.<ext>: cached for a year, typed, nothing else reachable."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from newsletter.services import Services
from tests.media.images import png


def test_a_stored_image_is_served_with_long_cache_headers(client: TestClient, services: Services) -> None:
    item = services.media.add(png(20, 10))
    response = client.get(f"/media/{item.key}.png")
    assert response.status_code == 200 and response.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/media/{item.key}.png", headers={"if-none-match": response.headers["etag"]}).status_code == 304
    assert client.head(f"/media/{item.key}.png").status_code == 200


@pytest.mark.parametrize("path", [
    "/media/" + "0" * 64 + ".png",  # unknown key
    "/media/{key}.jpg",  # the right key with the wrong type
    "/media/{KEY}.png",
    "/media/..%2F..%2Fnewsletter.db",
    "/media/..%2Fsecret_key",
    "/media/%2E%2E/secret_key",
    "/media/../secret_key",
    "/media/{key}.png%00.txt",
    "/media/{key}",
])
def test_anything_but_a_stored_key_is_404(client: TestClient, services: Services, path: str) -> None:
    item = services.media.add(png(20, 10))
    response = client.get(path.format(key=item.key, KEY=item.key.upper()))
    assert response.status_code == 404
    assert b"test-secret-key" not in response.content and b"SQLite" not in response.content
