"""`newsletter sources`: add, list, poll and remove feeds and folders."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import JsonFlag, ListFlag, emit, list_id_of, services_of

if TYPE_CHECKING:  # domain modules are imported inside the commands, so `newsletter --help` starts fast
    from newsletter.content.sources import PollResult, SourceInfo

# newsletter.content.sources' defaults, spelt here for the same reason (a test keeps them equal).
DEFAULT_INTERVAL_MINUTES = 60
DEFAULT_TIMEOUT = 10.0

sources_app = typer.Typer(help="Article sources: RSS/Atom feeds and folders of article files.", no_args_is_help=True)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "never"


def _describe(info: SourceInfo) -> str:
    title = f" ({info.title})" if info.title else ""
    return f"{info.id}  {info.kind}  {info.location}{title}"


def _result_line(result: PollResult) -> str:
    counts = f"added {result.added}, updated {result.updated}, unchanged {result.unchanged}"
    # The operator may see what the web does not: which address was refused, the socket's error.
    more = f" ({result.detail})" if result.detail and result.detail != result.error else ""
    error = f"; error: {result.error}{more}" if result.error else ""
    return f"{result.source_id}  {result.location}: {counts}{error}"


def _result_dict(result: PollResult) -> dict[str, object]:
    return {
        "id": result.source_id,
        "location": result.location,
        "added": result.added,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "error": result.error,
        "detail": result.detail,
        "over_cap": result.over_cap,
    }


@sources_app.command("add")
def add(
    ctx: typer.Context,
    location: Annotated[
        str, typer.Argument(help="An http(s) RSS/Atom feed URL, or a folder of article files on this machine.")
    ],
    interval: Annotated[
        int, typer.Option("--interval", min=1, help="Minutes between polls of this source.")
    ] = DEFAULT_INTERVAL_MINUTES,
    list_slug: ListFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a feed or a folder (the same location twice is refused). Nothing is fetched until a poll.

    Folders can be added only here, not from the admin or the API. A feed on a loopback or private
    address is refused unless NEWSLETTER_SOURCES_ALLOW_PRIVATE=1.
    """
    from newsletter.content.sources import add_source

    with services_of(ctx) as services:
        allow_private = services.settings.sources_allow_private
        info = add_source(services.sessions, location, interval_minutes=interval, allow_local=True,
                          allow_private=allow_private, list_id=list_id_of(services, list_slug))
    emit(as_json, info.to_dict(), f"added source {_describe(info)}, polled every {info.interval_minutes} min")


@sources_app.command("list")
def list_(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every source with its last poll, last error and article count."""
    from newsletter.content.sources import list_sources

    with services_of(ctx) as services:
        rows = list_sources(services.sessions)
    lines = [
        f"{_describe(info)}\n    every {info.interval_minutes} min, last poll {_when(info.last_polled_at)}, "
        f"{info.article_count} articles" + (f"\n    last error: {info.last_error}" if info.last_error else "")
        for info in rows
    ]
    emit(as_json, {"sources": [info.to_dict() for info in rows]}, "\n".join(lines) or "no sources yet")


@sources_app.command("poll")
def poll(
    ctx: typer.Context,
    source_id: Annotated[int | None, typer.Argument(help="The source to poll (default: every source).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for a feed.")] = DEFAULT_TIMEOUT,
    as_json: JsonFlag = False,
) -> None:
    """Poll one source, or all of them, now (whatever their interval). Exit 1 if any had an error.

    Feeds are fetched from public addresses only unless NEWSLETTER_SOURCES_ALLOW_PRIVATE=1, at most
    500 entries (the newest) per poll.
    """
    from newsletter.content.sources import AddressPolicy, get_source, poll_sources
    from newsletter.media.fetch import ingest_localiser

    with services_of(ctx) as services:
        if source_id is not None:
            get_source(services.sessions, source_id)  # a clear "no source N" before polling
        policy = AddressPolicy(allow_private=services.settings.sources_allow_private)
        results = poll_sources(services.sessions, None if source_id is None else [source_id], timeout=timeout,
                               policy=policy, images=ingest_localiser(services.media, services.settings))
    data = {"results": [_result_dict(result) for result in results]}
    emit(as_json, data, "\n".join(_result_line(result) for result in results) or "no sources to poll")
    if any(result.error for result in results):
        raise typer.Exit(1)


@sources_app.command("remove")
def remove(
    ctx: typer.Context,
    source_id: Annotated[int, typer.Argument(help="The source to remove; its articles stay.")],
    as_json: JsonFlag = False,
) -> None:
    """Remove a source; the articles it brought in stay (no longer linked to it)."""
    from newsletter.content.sources import remove_source

    with services_of(ctx) as services:
        info = remove_source(services.sessions, source_id)
    data = {**info.to_dict(), "removed": True}
    emit(as_json, data, f"removed source {_describe(info)}; its {info.article_count} articles stay")
