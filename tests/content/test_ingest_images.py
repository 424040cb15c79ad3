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


# -- the feature image (front matter ``image:``, a feed entry's picture): copied once, like body images


def _featured(folder: Path, image_url: str, body_image: str = "") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "harbour.md"
    body = f"\n\n![The same picture]({body_image})" if body_image else ""
    path.write_text(f"---\ntitle: Harbour Lights\nauthor: A. Writer\ndate: 2026-12-01\nimage: {image_url}\n"
                    f"credit: Sea Writer\n---\n\nThe lamps came on one by one.{body}\n")
    return path


def _feature(services: Services) -> tuple[str, str]:
    with services.sessions() as session:
        row = session.execute(select(Article.image_url, Article.image_credit)).one()
    return row[0], row[1]


def test_a_seeds_feature_image_is_copied_once_and_the_article_points_at_our_copy(
    services: Services, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_oneshot_request("/lights.jpg").respond_with_data(jpeg(1600, 900), content_type="image/jpeg")
    settings = services.settings.model_copy(update={"sources_allow_private": True})
    images = ingest_localiser(services.media, settings)
    url = httpserver.url_for("/lights.jpg")
    # The body shows the same picture: one fetch serves both.
    folder = _featured(tmp_path / "articles", url, body_image=url)

    report = ingest_path(services.sessions, folder, now=NOW, images=images)

    assert (report.added, report.warnings) == (["Harbour Lights"], [])
    image_url, credit = _feature(services)
    assert image_url.startswith(f"{services.settings.base_url}/media/") and image_url.endswith(".jpg")
    assert services.media.is_ours(image_url) and not services.media.missing(image_url)
    assert credit == "Sea Writer" and _images(services)[0]["src"] == image_url
    assert ingest_path(services.sessions, folder, now=NOW, images=images).unchanged == ["Harbour Lights"]
    assert len(httpserver.log) == 1  # fetched once, for the feature image and the body alike

    # The email points at our copy.
    from newsletter.issues.editor import create_issue

    issue_id = create_issue(services.sessions, services.settings, "Lights", [1])
    assert f'src="{image_url}"' in services.publisher.rendered(issue_id).html


def test_a_feature_image_that_cannot_be_fetched_keeps_its_address_and_is_reported(
    services: Services, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/gone.jpg").respond_with_data("no such image", status=404)
    settings = services.settings.model_copy(update={"sources_allow_private": True})
    url = httpserver.url_for("/gone.jpg")

    report = ingest_path(services.sessions, _featured(tmp_path / "articles", url), now=NOW,
                         images=ingest_localiser(services.media, settings))

    assert report.added == ["Harbour Lights"] and report.errors == []  # a warning, not a failure
    [warning] = report.warnings
    assert warning.startswith("Harbour Lights: image ") and "original address is kept" in warning
    assert _feature(services)[0] == url


def test_a_feature_image_that_is_not_a_web_address_is_left_out(services: Services, tmp_path: Path) -> None:
    report = ingest_path(services.sessions, _featured(tmp_path / "articles", "javascript:alert(1)"), now=NOW,
                         images=ingest_localiser(services.media, services.settings))
    assert report.added == ["Harbour Lights"] and report.warnings == []
    assert _feature(services)[0] == ""


def test_a_feed_entrys_picture_becomes_the_feature_image_copied_once(
    services: Services, httpserver: HTTPServer
) -> None:
    from newsletter.content.sources import AddressPolicy, add_source, poll_source
    from tests.content.test_sources_feeds import RSS, rss, rss_item

    httpserver.expect_oneshot_request("/boat.jpg").respond_with_data(jpeg(900, 600), content_type="image/jpeg")
    enclosure = f'<enclosure url="{httpserver.url_for("/boat.jpg")}" type="image/jpeg" length="1234"/></item>'
    item = rss_item("g-2", "Boats").replace("</item>", enclosure)
    httpserver.expect_request("/feed").respond_with_data(rss(item), content_type=RSS)
    images = ingest_localiser(services.media, services.settings.model_copy(update={"sources_allow_private": True}))
    source = add_source(services.sessions, httpserver.url_for("/feed"), allow_private=True)
    policy = AddressPolicy(allow_private=True)

    first = poll_source(services.sessions, source.id, now=NOW, policy=policy, images=images)
    again = poll_source(services.sessions, source.id, now=NOW, policy=policy, images=images)

    assert (first.added, first.error, again.unchanged) == (1, None, 1)
    image_url, _ = _feature(services)
    assert services.media.is_ours(image_url) and not services.media.missing(image_url)
    assert [request.path for request, _ in httpserver.log].count("/boat.jpg") == 1


def test_a_folder_sources_images_are_copied_too(services: Services, httpserver: HTTPServer, tmp_path: Path) -> None:
    from newsletter.content.sources import AddressPolicy, add_source, poll_source

    httpserver.expect_oneshot_request("/lights.jpg").respond_with_data(jpeg(800, 400), content_type="image/jpeg")
    folder = tmp_path / "articles"
    _featured(folder, httpserver.url_for("/lights.jpg"))
    images = ingest_localiser(services.media, services.settings.model_copy(update={"sources_allow_private": True}))
    source = add_source(services.sessions, str(folder), allow_local=True)

    result = poll_source(services.sessions, source.id, now=NOW, policy=AddressPolicy(allow_private=True),
                         images=images)

    assert (result.added, result.error) == (1, None)
    assert services.media.is_ours(_feature(services)[0])


def test_a_feeds_media_picture_is_read_as_the_feature_image_and_nothing_unsafe_is() -> None:
    from newsletter.content.sources.feeds import parse_feed

    feed = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>T</title>
<item><title>Thumbnail</title><guid>a</guid><link>https://example.org/a/</link><description>x</description>
  <media:thumbnail url="pics/a.jpg"/></item>
<item><title>Content</title><guid>b</guid><description>y</description>
  <media:content url="https://cdn.example/video.mp4" type="video/mp4"/>
  <media:content url="https://cdn.example/b.png" medium="image"/></item>
<item><title>Scripted</title><guid>c</guid><description>z</description>
  <enclosure url="javascript:alert(1)" type="image/png" length="1"/></item>
</channel></rss>"""
    entries = {entry.title: entry.image_url for entry in parse_feed(feed, "https://example.org/feed").entries}
    assert entries == {"Thumbnail": "https://example.org/a/pics/a.jpg", "Content": "https://cdn.example/b.png",
                       "Scripted": ""}
