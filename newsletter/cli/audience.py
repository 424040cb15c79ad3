"""`newsletter segments ...` and `newsletter fields ...`: saved filters on a list, custom fields."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.common import JsonFlag, emit, services_of

segments_app = typer.Typer(help="Segments: saved filters on a list, to send an issue to.", no_args_is_help=True)
fields_app = typer.Typer(help="Custom fields readers carry (text, number, date, bool).", no_args_is_help=True)


@segments_app.command("create")
def create_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="The segment's name (unique on its list).")],
    list_slug: Annotated[str, typer.Option("--list", metavar="SLUG", help="The list it filters (now: main).")],
    tag: Annotated[list[str] | None, typer.Option("--tag", metavar="T", help="Readers with this tag (each --tag must hold).")] = None,
    any_tag: Annotated[list[str] | None, typer.Option("--any-tag", metavar="T", help="Readers with at least one of these tags.")] = None,
    no_tag: Annotated[list[str] | None, typer.Option("--no-tag", metavar="T", help="Readers with none of these tags.")] = None,
    field: Annotated[list[str] | None, typer.Option(
        "--field", metavar="'KEY OP VALUE'",
        help="A field comparison: = != < <= > >= contains set unset, e.g. 'age >= 30', 'phone set'.")] = None,
    status: Annotated[list[str] | None, typer.Option("--status", help="Readers with this status (repeatable).")] = None,
    zone: Annotated[list[str] | None, typer.Option("--zone", help="Readers whose own time zone is this (repeatable).")] = None,
    signed_up_after: Annotated[str | None, typer.Option("--signed-up-after", metavar="DATE",
                                                        help="Signed up on or after (YYYY-MM-DD, UTC).")] = None,
    signed_up_before: Annotated[str | None, typer.Option("--signed-up-before", metavar="DATE",
                                                         help="Signed up before (YYYY-MM-DD, UTC).")] = None,
    opened_last: Annotated[int | None, typer.Option("--opened-last", metavar="N",
                                                    help="Opened one of the last N tracked issues.")] = None,
    clicked_last: Annotated[int | None, typer.Option("--clicked-last", metavar="N",
                                                     help="Clicked in one of the last N tracked issues.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Save a segment: readers of the list matching every condition given. Prints its count."""
    from newsletter.audience.errors import InvalidFilter
    from newsletter.audience.filters import field_expression

    flt: dict[str, object] = {}
    tags = [{"match": "all", "tags": tag}] if tag else []
    tags += [{"match": "any", "tags": any_tag}] if any_tag else []
    tags += [{"match": "none", "tags": no_tag}] if no_tag else []
    if tags:
        flt["tags"] = tags
    if field:
        flt["fields"] = [field_expression(f) for f in field]
    if status:
        flt["statuses"] = status
    if zone:
        flt["zones"] = zone
    if signed_up_after:
        flt["signed_up_after"] = signed_up_after
    if signed_up_before:
        flt["signed_up_before"] = signed_up_before
    if opened_last is not None and clicked_last is not None:
        raise InvalidFilter("give --opened-last or --clicked-last, not both")
    if opened_last is not None:
        flt["engagement"] = {"kind": "opened", "last_issues": opened_last}
    if clicked_last is not None:
        flt["engagement"] = {"kind": "clicked", "last_issues": clicked_last}
    with services_of(ctx) as services:
        segment = services.audience.create_segment(name, list_slug, flt)
    emit(as_json, {"id": segment.id, "count": segment.count},
         f"segment {segment.id} ({segment.name}): {segment.count} readers now")


@segments_app.command("list")
def list_cmd(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Segments with their current count (the active readers a send to each would queue now)."""
    with services_of(ctx) as services:
        segments = services.audience.segments()
    lines = [f"{s.id:>4}  {s.name}  [{s.list_slug}]  {s.count} readers" for s in segments]
    emit(as_json, {"segments": [s.as_dict() for s in segments]}, "\n".join(lines) or "no segments")


@segments_app.command("remove")
def remove_cmd(
    ctx: typer.Context,
    segment_id: Annotated[int, typer.Argument(metavar="ID", help="The segment's id (segments list).")],
    as_json: JsonFlag = False,
) -> None:
    """Delete a segment; one an issue was sent to is kept with that issue (exit 1)."""
    with services_of(ctx) as services:
        services.audience.remove_segment(segment_id)
    emit(as_json, {"id": segment_id, "removed": True}, f"segment {segment_id} removed")


@fields_app.command("create")
def field_create_cmd(
    ctx: typer.Context,
    key: Annotated[str, typer.Option("--key", help="Names it in imports (the column header), filters, the API.")],
    label: Annotated[str, typer.Option("--label", help="Shown in the admin.")],
    kind: Annotated[str, typer.Option("--type", metavar="text|number|date|bool", help="The values' type.")],
    as_json: JsonFlag = False,
) -> None:
    """Define a custom field readers can carry."""
    with services_of(ctx) as services:
        info = services.audience.define_field(key, label, kind)
    emit(as_json, info.as_dict(), f"field {info.key} ({info.type.value}) defined")


@fields_app.command("list")
def field_list_cmd(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The custom fields defined."""
    with services_of(ctx) as services:
        fields = services.audience.fields()
    emit(as_json, {"fields": [f.as_dict() for f in fields]},
         "\n".join(f"{f.key}  {f.type.value}  {f.label}" for f in fields) or "no fields")
