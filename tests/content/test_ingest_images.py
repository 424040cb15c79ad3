"""Images named by URL in an article file are copied into our media store once, at ingest: the
email then points at our copy, which cannot change, vanish or track readers."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from pytest_httpserver import HTTPServer
from sqlalchemy import select

from newsletter.content.ingest import ingest_path
from newsletter.content.models import Article
from newsletter.media.fetch import ingest_localiser
from newsletter.services import Services
from tests.media.images import jpeg

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)


def _article(folder: Path, image_url: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "floods.md"
    path.write_text(f"---\ntitle: Rivers of the North\nauthor: A. Writer\ndate: 2026-12-01\n---\n\n"
                    f"The water came up in a night.\n\n![The valley after the flood]({image_url})\n")
    return path


def _images(services: Services) -> list[dict]:
    with services.sessions() as session:
        body = session.scalars(select(Article.body)).one()
    return [block for block in body if block.get("kind") == "image"]


def test_an_image_by_url_is_copied_once_and_the_article_points_at_our_copy(
    services: Services, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_oneshot_request("/valley.jpg").respond_with_data(jpeg(1600, 800), content_type="image/jpeg")
    # The test's feed server is on loopback: allowed here as NEWSLETTER_SOURCES_ALLOW_PRIVATE would.
    settings = services.settings.model_copy(update={"sources_allow_private": True})
    images = ingest_localiser(services.media, settings)
    folder = _article(tmp_path / "articles", httpserver.url_for("/valley.jpg"))

    report = ingest_path(services.sessions, folder, now=NOW, images=images)

    assert (report.added, report.warnings) == (["Rivers of the North"], [])
    [image] = _images(services)
    assert image["src"].startswith(f"{services.settings.base_url}/media/") and image["src"].endswith(".jpg")
    assert (image["width"], image["height"], image["alt"]) == (1200, 600, "The valley after the flood")
    assert services.media.is_ours(image["src"])

    again = ingest_path(services.sessions, folder, now=NOW, images=images)  # the file did not change
    assert again.unchanged == ["Rivers of the North"]
    assert len(httpserver.log) == 1  # fetched once


def test_an_image_that_cannot_be_fetched_keeps_its_address_and_is_reported(
    services: Services, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/gone.jpg").respond_with_data("no such image", status=404)
    settings = services.settings.model_copy(update={"sources_allow_private": True})
    url = httpserver.url_for("/gone.jpg")

    report = ingest_path(services.sessions, _article(tmp_path / "articles", url), now=NOW,
                         images=ingest_localiser(services.media, settings))

    assert report.added == ["Rivers of the North"]  # the article is never lost for an image
    [warning] = report.warnings
    assert warning.startswith("Rivers of the North: image ") and "original address is kept" in warning
    assert _images(services)[0]["src"] == url


def test_without_private_addresses_allowed_a_loopback_image_is_not_fetched(
    services: Services, httpserver: HTTPServer, tmp_path: Path
) -> None:
    url = httpserver.url_for("/valley.jpg")
    report = ingest_path(services.sessions, _article(tmp_path / "articles", url), now=NOW,
                         images=ingest_localiser(services.media, services.settings))
    assert len(report.warnings) == 1 and _images(services)[0]["src"] == url
    assert httpserver.log == []


def test_a_feed_entrys_image_is_copied_once_across_polls(services: Services, httpserver: HTTPServer) -> None:
    from newsletter.content.sources import AddressPolicy, add_source, poll_source
    from tests.content.test_sources_feeds import RSS, rss, rss_item

    httpserver.expect_oneshot_request("/pic.jpg").respond_with_data(jpeg(800, 400), content_type="image/jpeg")
    body = f'<p>The bridge held.</p><img src="{httpserver.url_for("/pic.jpg")}" alt="The old bridge">'
    httpserver.expect_request("/feed").respond_with_data(rss(rss_item("g-1", "Bridges", body=body)), content_type=RSS)
    settings = services.settings.model_copy(update={"sources_allow_private": True})
    images = ingest_localiser(services.media, settings)
    source = add_source(services.sessions, httpserver.url_for("/feed"), allow_private=True)

    first = poll_source(services.sessions, source.id, now=NOW, policy=AddressPolicy(allow_private=True), images=images)
    again = poll_source(services.sessions, source.id, now=NOW, policy=AddressPolicy(allow_private=True), images=images)

    assert (first.added, first.error, again.unchanged) == (1, None, 1)
    [image] = _images(services)
    assert services.media.is_ours(image["src"]) and image["alt"] == "The old bridge"
    assert [request.path for request, _ in httpserver.log].count("/pic.jpg") == 1
