"""`newsletter subscribers ...`: add one reader, import a CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli_common import JsonFlag, emit, progress_bar, services_of
from newsletter.importer import import_csv

subscribers_app = typer.Typer(help="Manage subscribers.", no_args_is_help=True)


@subscribers_app.command("add")
def add_cmd(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The reader's address.")],
    name: Annotated[str, typer.Option("--name", help="The reader's name, for the greeting.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Add a reader who has already agreed to receive the newsletter (active at once)."""
    with services_of(ctx) as services:
        subscriber, created = services.subscriptions.add(email, name, source="cli")
    state = "added" if created else f"already on the list ({subscriber.status.value})"
    emit(
        as_json,
        {"id": subscriber.id, "email": subscriber.email, "status": subscriber.status.value, "created": created},
        f"{subscriber.email}: {state}",
    )


@subscribers_app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="CSV with an email column (and name).")],
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="The readers opted in elsewhere: active at once, no confirmation email.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import readers from a CSV file; bad rows are reported with their line and reason.

    Without --confirmed each new reader is pending and gets a confirmation email (double opt-in).
    """
    with services_of(ctx) as services:
        with progress_bar("importing", not as_json) as update:
            report = import_csv(services.sessions, file, progress=update, confirmed=confirmed)
        mailed = 0
        with progress_bar("confirmation emails", not as_json) as update:
            for done, subscriber_id in enumerate(report.pending, 1):
                mailed += services.subscriptions.send_confirmation(subscriber_id)
                update(done, len(report.pending))
    lines = [f"added {report.added} ({'active' if confirmed else f'pending, {mailed} confirmation emails sent'}), "
             f"already present {report.existing}, rejected {len(report.rejected)}"]
    lines += [f"line {line}: {reason}" for line, reason in report.rejected]
    emit(
        as_json,
        {"added": report.added, "existing": report.existing, "confirmations_sent": mailed,
         "rejected": [{"line": line, "reason": reason} for line, reason in report.rejected]},
        "\n".join(lines),
    )
