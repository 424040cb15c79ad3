"""`newsletter sources` as an operator runs it: a real process, a real feed server, real folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.cli_runner import Run, make_run
from tests.content.test_sources_feeds import RSS, rss, rss_item

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
ALLOW_PRIVATE = "NEWSLETTER_SOURCES_ALLOW_PRIVATE=1\n"  # in the .env the command reads from its directory


def trust_private(folder: Path) -> None:
    """The feed server is on loopback: allow it as an operator of a private setup would."""
    (folder / ".env").write_text(ALLOW_PRIVATE)


def test_add_list_poll_remove_with_json(tmp_path: Path, database_url: str, httpserver: HTTPServer) -> None:
    run = make_run(tmp_path, database_url)
    trust_private(tmp_path)
    httpserver.expect_request("/feed").respond_with_data(
        rss(rss_item("c-1", "From the feed") + rss_item("c-2", "Also from the feed")), content_type=RSS
    )
    folder = tmp_path / "articles"
    folder.mkdir()
    for seed in SEEDS.glob("*.txt"):
        shutil.copy(seed, folder)

    feed = json.loads(run("sources", "add", httpserver.url_for("/feed"), "--interval", "15", "--json").stdout)
    assert (feed["kind"], feed["interval_minutes"], feed["last_polled_at"]) == ("feed", 15, None)
    files = json.loads(run("sources", "add", str(folder), "--json").stdout)
    assert files["kind"] == "folder" and files["location"] == str(folder.resolve())

    again = run("sources", "add", httpserver.url_for("/feed"), ok=False)
    assert again.returncode == 1 and f"already source {feed['id']}" in again.stderr

    polled = json.loads(run("sources", "poll", "--json").stdout)["results"]
    assert [(r["id"], r["added"], r["error"]) for r in polled] == [(feed["id"], 2, None), (files["id"], 1, None)]
    one = json.loads(run("sources", "poll", str(feed["id"]), "--json").stdout)["results"]
    assert [(r["added"], r["unchanged"]) for r in one] == [(0, 2)]

    listed = json.loads(run("sources", "list", "--json").stdout)["sources"]
    assert [(s["id"], s["article_count"], s["last_error"]) for s in listed] == [
        (feed["id"], 2, None), (files["id"], 1, None),
    ]  # fmt: skip
    assert listed[0]["title"] == "The Test Feed" and listed[0]["last_polled_at"]
    assert "The Test Feed" in run("sources", "list").stdout

    removed = json.loads(run("sources", "remove", str(feed["id"]), "--json").stdout)
    assert removed["removed"] is True and removed["article_count"] == 2
    assert [s["id"] for s in json.loads(run("sources", "list", "--json").stdout)["sources"]] == [files["id"]]


def test_poll_reports_a_failing_feed_and_exits_1(run: Run, httpserver: HTTPServer, tmp_path: Path) -> None:
    trust_private(tmp_path)
    httpserver.expect_request("/gone").respond_with_data("", status=404)
    run("sources", "add", httpserver.url_for("/gone"))
    done = run("sources", "poll", "--timeout", "2", ok=False)
    assert done.returncode == 1 and "HTTP 404" in done.stdout
    assert "HTTP 404" in run("sources", "list").stdout


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("ftp://example.org/feed.xml", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("/no/such/folder", "no such folder"),
    ],
)
def test_bad_locations_are_one_clear_line(run: Run, location: str, message: str) -> None:
    done = run("sources", "add", location, ok=False)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_file_is_not_a_folder(run: Run, tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("x")
    done = run("sources", "add", str(tmp_path / "one.txt"), ok=False)
    assert done.returncode == 1 and "not a folder" in done.stderr


@pytest.mark.parametrize("command", ["poll", "remove"])
def test_unknown_source_ids(run: Run, command: str) -> None:
    done = run("sources", command, "42", ok=False)
    assert done.returncode == 1 and "no source 42" in done.stderr


def test_folders_are_added_from_the_cli_even_the_root(run: Run) -> None:
    added = json.loads(run("sources", "add", "/", "--json").stdout)
    assert (added["kind"], added["location"]) == ("folder", "/")


def test_private_feeds_need_allow_private_and_the_cli_says_why(
    run: Run, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/feed").respond_with_data(rss(rss_item("p-1", "Inside")), content_type=RSS)
    url = f"http://127.0.0.1:{httpserver.port}/feed"
    refused = run("sources", "add", url, ok=False)
    assert refused.returncode == 1 and "127.0.0.1 is not a public internet address" in refused.stderr
    assert "NEWSLETTER_SOURCES_ALLOW_PRIVATE=1" in refused.stderr

    trust_private(tmp_path)
    run("sources", "add", httpserver.url_for("/feed"))  # http://localhost:PORT/feed
    (tmp_path / ".env").unlink()  # the setting turned off again: the poll checks the address anew
    polled = run("sources", "poll", ok=False)
    assert polled.returncode == 1 and "refused: localhost is not a public internet address" in polled.stdout
    assert httpserver.log == []

    trust_private(tmp_path)
    done = json.loads(run("sources", "poll", "--json").stdout)["results"]
    assert [(r["added"], r["error"]) for r in done] == [(1, None)]


def test_an_unreachable_feed_gives_the_detail_on_the_cli(run: Run, tmp_path: Path) -> None:
    trust_private(tmp_path)
    run("sources", "add", "http://127.0.0.1:9/feed")  # nothing listens on port 9
    polled = run("sources", "poll", "--timeout", "2", ok=False)
    assert "could not be reached or did not answer in time" in polled.stdout
    assert "Connection refused" in polled.stdout  # the web shows the first part only
