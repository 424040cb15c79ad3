"""What every CLI command shares: the Settings from the context, Services, JSON output, progress."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # imported when a command runs, so `newsletter --help` starts fast
    from newsletter.config import Settings
    from newsletter.services import Services

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def settings_of(ctx: typer.Context) -> Settings:
    """The Settings, built once per command line (invalid ones: one line and exit 2)."""
    from pydantic import ValidationError

    from newsletter.config import Settings, load_settings

    root = ctx.find_root()
    if root.obj is None:
        try:
            root.obj = load_settings()
        except ValidationError as exc:
            typer.echo(f"error: invalid settings: {exc}", err=True)
            raise typer.Exit(2) from exc
    assert isinstance(root.obj, Settings)
    return root.obj


@contextmanager
def services_of(ctx: typer.Context) -> Iterator[Services]:
    from newsletter.services import Services

    services = Services.build(settings_of(ctx))
    try:
        yield services
    finally:
        services.close()


def emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=str))
    else:
        typer.echo(text)


@contextmanager
def progress_bar(label: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr (so --json output stays clean); yields an update callback."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda done, total: None
        return
    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update




ListFlag = Annotated[
    str | None, typer.Option("--list", metavar="SLUG", help="The newsletter (list) by its slug; default: the first list.")
]


def list_id_of(services: Services, slug: str | None) -> int:
    """The id of the list ``--list`` names (the first list without it); an unknown slug is the
    domain's UnknownList, shown as `unknown list: SLUG`, exit 1, before anything changes."""
    from newsletter.lists.catalog import list_by_slug

    return list_by_slug(services.sessions, slug).id
