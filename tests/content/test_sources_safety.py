"""Sources reach only the public internet: every address of every hop is checked before connecting.

Real feed servers on loopback addresses; the "public" one is a loopback address the test's policy
permits (with the real policy no local server could stand in for the internet), and names are
resolved by an injected resolver, so no test depends on real DNS.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.content.models import Article
from newsletter.content.sources import (
    MAX_ENTRIES,
    AddressPolicy,
    SourceError,
    add_source,
    list_sources,
    poll_due,
    poll_source,
)
from newsletter.content.sources import safe_fetch
from newsletter.content.sources.safe_fetch import IPAddress, is_public
from newsletter.services import Services
from tests.content.test_sources_feeds import RSS, rss, rss_item

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
PUBLIC_STAND_IN = ipaddress.ip_address("127.0.0.2")  # the "internet" in these tests


def stand_in_is_public(address: IPAddress) -> bool:
    return address == PUBLIC_STAND_IN or is_public(address)


def resolver(names: dict[str, list[str]]) -> safe_fetch.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return names[host]

    return resolve


@pytest.fixture
def public_server() -> Iterator[HTTPServer]:
    """A feed server on 127.0.0.2, the address the test policy treats as public."""
    server = HTTPServer(host=str(PUBLIC_STAND_IN))
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def articles(services: Services) -> list[Article]:
    with services.sessions() as session:
        return list(session.scalars(select(Article).order_by(Article.id)))


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
    "::1", "::", "fe80::1", "fd00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "2002:7f00:1::1", "64:ff9b::a9fe:a9fe", "2001:db8::1",
])  # fmt: skip
def test_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8",
                                     "64:ff9b::808:808"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("location", [
    "http://127.0.0.1:8080/feed.xml", "http://169.254.169.254/latest/meta-data/", "http://localhost/feed",
    "http://api.localhost/feed", "http://[::1]/feed", "http://[::ffff:127.0.0.1]/feed", "http://2130706433/feed",
    "http://127.1/feed", "http://0x7f.1/feed", "https://10.0.0.5/feed",
])  # fmt: skip
def test_adding_a_private_address_is_refused_without_dns(services: Services, location: str) -> None:
    with pytest.raises(SourceError, match="not a public internet address"):
        add_source(services.sessions, location)
    assert list_sources(services.sessions) == []


def test_a_public_name_resolving_to_loopback_is_refused_and_nothing_fetched(
    services: Services, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/feed").respond_with_data(rss(rss_item("s-1", "Secret")), content_type=RSS)
    url = f"http://feeds.example.com:{httpserver.port}/feed"
    source = add_source(services.sessions, url)  # a name: checked when it is resolved, at each poll
    policy = AddressPolicy(resolve=resolver({"feeds.example.com": ["127.0.0.1"]}))
    result = poll_source(services.sessions, source.id, now=NOW, policy=policy)
    assert result.error == "refused: feeds.example.com does not resolve to a public internet address " \
                           "(set NEWSLETTER_SOURCES_ALLOW_PRIVATE=1 to allow private addresses)"
    assert result.detail == "feeds.example.com resolves to 127.0.0.1"  # for the CLI only
    assert list_sources(services.sessions)[0].last_error == result.error
    assert httpserver.log == [] and articles(services) == []


def test_one_private_address_among_public_ones_is_refused(services: Services, public_server: HTTPServer) -> None:
    public_server.expect_request("/feed").respond_with_data(rss(rss_item("m-1", "Mixed")), content_type=RSS)
    source = add_source(services.sessions, f"http://mixed.test:{public_server.port}/feed")
    policy = AddressPolicy(resolve=resolver({"mixed.test": ["127.0.0.2", "10.0.0.7"]}), permits=stand_in_is_public)
    result = poll_source(services.sessions, source.id, now=NOW, policy=policy)
    assert result.error is not None and "does not resolve to a public internet address" in result.error
    assert public_server.log == []


def test_the_connection_goes_to_the_checked_address(services: Services, public_server: HTTPServer) -> None:
    """feeds.test exists in no DNS: the feed arrives only because the fetch connects to the address it checked."""
    public_server.expect_request("/feed").respond_with_data(rss(rss_item("c-1", "Checked")), content_type=RSS)
    answers = iter([["127.0.0.2"], ["127.0.0.1"]])  # a rebinding DNS: a second look-up would answer loopback
    policy = AddressPolicy(resolve=lambda host, port: next(answers), permits=stand_in_is_public)
    source = add_source(services.sessions, f"http://feeds.test:{public_server.port}/feed")
    result = poll_source(services.sessions, source.id, now=NOW, policy=policy)
    assert (result.added, result.error) == (1, None)
    ((request, _),) = public_server.log
    assert request.headers["Host"] == f"feeds.test:{public_server.port}"


def test_a_redirect_to_loopback_is_refused(
    services: Services, public_server: HTTPServer, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/internal").respond_with_data(rss(rss_item("i-1", "Internal")), content_type=RSS)
    inside = f"http://127.0.0.1:{httpserver.port}/internal"
    public_server.expect_request("/feed").respond_with_data("", status=302, headers={"Location": inside})
    source = add_source(services.sessions, f"http://feeds.test:{public_server.port}/feed")
    policy = AddressPolicy(resolve=resolver({"feeds.test": ["127.0.0.2"]}), permits=stand_in_is_public)
    result = poll_source(services.sessions, source.id, now=NOW, policy=policy)
    assert result.error is not None and result.error.startswith("refused: 127.0.0.1 is not a public internet address")
    assert len(public_server.log) == 1 and httpserver.log == []
    assert articles(services) == []


def test_a_redirect_to_another_scheme_is_refused(services: Services, public_server: HTTPServer) -> None:
    public_server.expect_request("/feed").respond_with_data("", status=301, headers={"Location": "file:///etc/passwd"})
    source = add_source(services.sessions, f"http://feeds.test:{public_server.port}/feed")
    policy = AddressPolicy(resolve=resolver({"feeds.test": ["127.0.0.2"]}), permits=stand_in_is_public)
    result = poll_source(services.sessions, source.id, now=NOW, policy=policy)
    assert result.error is not None and "not an http(s) URL" in result.error


def test_refused_closed_and_silent_ports_read_the_same(services: Services, public_server: HTTPServer) -> None:
    """The web's message cannot tell an open port from a closed one; only the CLI's detail can."""
    source = add_source(services.sessions, "http://feeds.test:9/feed")  # nothing listens on port 9
    policy = AddressPolicy(resolve=resolver({"feeds.test": ["127.0.0.2"]}), permits=stand_in_is_public)
    closed = poll_source(services.sessions, source.id, now=NOW, policy=policy)
    assert closed.error == "cannot fetch the feed: feeds.test could not be reached or did not answer in time"
    assert closed.detail is not None and "refused" in closed.detail.lower()


def test_allow_private_fetches_the_same_feed(services: Services, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(rss(rss_item("p-1", "Trusted")), content_type=RSS)
    url = f"http://127.0.0.1:{httpserver.port}/feed"
    source = add_source(services.sessions, url, allow_private=True)
    refused = poll_source(services.sessions, source.id, now=NOW)  # the default policy: public only
    assert refused.error is not None and refused.error.startswith("refused:") and httpserver.log == []
    allowed = poll_source(services.sessions, source.id, now=NOW, policy=AddressPolicy(allow_private=True))
    assert (allowed.added, allowed.error) == (1, None)


@pytest.fixture
def strict_settings(settings: Settings) -> Settings:
    assert settings.sources_allow_private is False
    return settings


def test_the_scheduler_checks_feeds_added_while_private_was_allowed(
    services: Services, strict_settings: Settings, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/feed").respond_with_data(rss(rss_item("q-1", "Inside")), content_type=RSS)
    add_source(services.sessions, httpserver.url_for("/feed"), allow_private=True, allow_local=True)
    (result,) = poll_due(services, NOW)
    assert result.error is not None and result.error.startswith("refused: localhost")
    assert httpserver.log == [] and articles(services) == []


@pytest.mark.parametrize("location", ["/root", "/", "/etc", "file:///etc/passwd", "file:///root/", "~", "."])
def test_folders_and_files_only_with_allow_local(services: Services, location: str) -> None:
    with pytest.raises(SourceError, match=r"folders on the server are added from its command line"):
        add_source(services.sessions, location)
    assert list_sources(services.sessions) == []


def test_a_folder_that_does_not_exist_reads_the_same_from_the_web(services: Services) -> None:
    """From the web the disk is not looked at: no answer tells an existing path from a missing one."""
    messages = set()
    for location in ("/root", "/no/such/folder"):
        with pytest.raises(SourceError) as refused:
            add_source(services.sessions, location)
        messages.add(str(refused.value).split(":", 1)[1])
    assert len(messages) == 1


def test_the_cli_may_add_the_root_folder(services: Services) -> None:
    info = add_source(services.sessions, "/", allow_local=True)
    assert (info.kind, info.location) == ("folder", "/")


def test_a_huge_feed_stores_its_newest_500_and_says_the_rest_were_skipped(
    services: Services, httpserver: HTTPServer
) -> None:
    total = 700  # the finding had 6,000; past the cap is what matters, and 500 rows of it are stored
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    # Oldest first, as some feeds list them: the cap must pick by date, not by position.
    items = "".join(
        rss_item(f"h-{n}", f"Entry {n}", date=(start + timedelta(hours=n)).strftime("%a, %d %b %Y %H:%M:%S +0000"),
                 body="<p>x</p>")
        for n in range(total)
    )
    httpserver.expect_request("/feed").respond_with_data(rss(items), content_type=RSS)
    source = add_source(services.sessions, f"http://127.0.0.1:{httpserver.port}/feed", allow_private=True)
    result = poll_source(services.sessions, source.id, now=NOW, policy=AddressPolicy(allow_private=True))
    assert (result.added, result.over_cap) == (MAX_ENTRIES, total - MAX_ENTRIES)
    assert result.error == f"{total - MAX_ENTRIES} older entries skipped (at most {MAX_ENTRIES} are taken per poll)"
    titles = {a.title for a in articles(services)}
    assert len(titles) == MAX_ENTRIES and f"Entry {total - 1}" in titles and f"Entry {total - MAX_ENTRIES}" in titles
    assert f"Entry {total - MAX_ENTRIES - 1}" not in titles
    listed = list_sources(services.sessions)[0]
    assert listed.article_count == MAX_ENTRIES and listed.last_error == result.error and listed.last_ok_at == NOW


def test_a_body_over_the_byte_cap_is_refused(
    services: Services, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(safe_fetch, "MAX_FEED_BYTES", 1024 * 1024)
    httpserver.expect_request("/feed").respond_with_data("<rss>" + "x" * (2 * 1024 * 1024), content_type=RSS)
    source = add_source(services.sessions, f"http://127.0.0.1:{httpserver.port}/feed", allow_private=True)
    result = poll_source(services.sessions, source.id, now=NOW, policy=AddressPolicy(allow_private=True))
    assert result.error == "the response is larger than 1 MB"
