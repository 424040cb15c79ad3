"""`newsletter lists ...`: the newsletters (lists) of this installation."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.common import JsonFlag, emit, services_of

lists_app = typer.Typer(help="Manage the newsletters (lists) of this installation.", no_args_is_help=True)


@lists_app.command("create")
def create_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="The list's name, as readers see it.")],
    slug: Annotated[str | None, typer.Option("--slug", help="1-60 of a-z, 0-9 and -; default: made from the name.")]
    = None,
    from_address: Annotated[str | None, typer.Option(
        "--from", metavar="ADDR", help="Its From address; default: the installation's address under the list's name.")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a newsletter (list) with its own name, slug and From address."""
    from newsletter.lists.catalog import create_list

    with services_of(ctx) as services:
        created = create_list(services.sessions, name, slug, from_address)
    emit(as_json, {"id": created.id, "slug": created.slug},
         f"list {created.id} created: {created.name} (/n/{created.slug}/subscribe)")


@lists_app.command("list")
def list_cmd(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The lists, the first one first, with their active subscriptions."""
    from newsletter.lists.catalog import all_lists

    with services_of(ctx) as services:
        found = all_lists(services.sessions)
    lines = [f"{item.id}\t{item.slug}\t{item.name}\t{item.from_address or '(the installation From)'}\t"
             f"{item.subscribers} subscribed{' (first list)' if item.first else ''}" for item in found]
    emit(as_json, {"lists": [item.as_dict() for item in found]}, "\n".join(lines))
