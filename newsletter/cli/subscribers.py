"""`newsletter subscribers ...`: add one reader, import or export a CSV, show or erase one reader,
lift a suppression."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import JsonFlag, ListFlag, emit, list_id_of, progress_bar, services_of
from newsletter.readers.status import SubscriberStatus

if TYPE_CHECKING:  # domain modules are imported inside the commands, so `newsletter --help` starts fast
    from newsletter.readers.history import SubscriberHistory
    from newsletter.readers.importer import ImportReport

subscribers_app = typer.Typer(help="Manage subscribers.", no_args_is_help=True)


@subscribers_app.command("add")
def add_cmd(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The reader's address.")],
    name: Annotated[str, typer.Option("--name", help="The reader's name, for the greeting.")] = "",
    list_slug: ListFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a reader who has already agreed to receive the newsletter (active at once)."""
    with services_of(ctx) as services:
        list_id = list_id_of(services, list_slug)
        added = services.subscriptions.add_subscriber(email, name, confirmed=True, source="cli", list_id=list_id)
    state = "added" if added.created else f"already on the list ({added.status.value})"
    emit(
        as_json,
        {"id": added.id, "email": added.email, "status": added.status.value, "created": added.created},
        f"{added.email}: {state}",
    )


@subscribers_app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="A Mailchimp, Substack or Ghost export, or a CSV "
                                         "with an email column (and name), or no header.")],
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="The readers opted in elsewhere: active at once, no confirmation email.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would happen; change nothing.")] = False,
    rejected_file: Annotated[
        Path | None, typer.Option("--rejected", metavar="OUT.csv", help="Write every rejected row (row,email,reason).")
    ] = None,
    list_slug: ListFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """Import readers from a CSV file; bad rows are reported with their row number and reason.

    Without --confirmed each new reader is pending and gets a confirmation email (double opt-in).
    """
    from newsletter.readers.importer import import_csv

    with services_of(ctx) as services, ExitStack() as stack:
        list_id = list_id_of(services, list_slug)  # before the --rejected file is made
        out = stack.enter_context(rejected_file.open("w", newline="", encoding="utf-8")) if rejected_file else None
        with progress_bar("reading" if dry_run else "importing", not as_json) as update:
            report = import_csv(services.sessions, file, progress=update, confirmed=confirmed,
                                suppression=services.suppression, dry_run=dry_run, rejected_out=out,
                                list_id=list_id)
        mailed = 0
        with progress_bar("confirmation emails", not as_json) as update:
            for done, subscriber_id in enumerate(report.pending, 1):
                mailed += services.subscriptions.send_confirmation(subscriber_id, list_id=list_id)
                update(done, len(report.pending))
    data = report.as_dict()
    data["confirmations_sent"] = mailed
    emit(as_json, data, report_text(report, mailed))
    if report.stopped:
        raise typer.Exit(1)


def report_text(report: ImportReport, mailed: int) -> str:
    verb = "would add" if report.dry_run else "added"
    state = "active" if report.confirmed else (
        "pending" if report.dry_run else f"pending, {mailed} confirmation emails sent")
    lines = [f"{report.file}: {report.layout_label}, {report.encoding}; {report.rows} rows"]
    lines += [f"note: {note}" for note in report.notes]
    lines.append(f"{verb} {report.added} ({state}), already subscribed {report.existing}, "
                 f"not imported {report.rejected_total} (invalid {report.invalid}, duplicates {report.duplicates}, "
                 f"suppressed {report.suppressed}, skipped at the source {report.skipped}, "
                 f"unsubscribed at the source {report.unsubscribed})")
    lines += [f"row {r.row}: {r.email or '(no address)'}: {r.reason}" for r in report.rejected]
    if report.rejected_total > len(report.rejected):
        lines.append(f"... and {report.rejected_total - len(report.rejected)} more (--rejected OUT.csv lists all)")
    if report.stopped:
        done = (f"rows {report.committed_rows[0]}-{report.committed_rows[1]} were "
                f"{'checked' if report.dry_run else 'imported'}" if report.committed_rows else "no rows were imported")
        lines.append(f"stopped: {report.stopped}; {done}")
    return "\n".join(lines)


@subscribers_app.command("export")
def export_cmd(
    ctx: typer.Context,
    status: Annotated[SubscriberStatus | None, typer.Option("--status", help="Only readers with this status.")] = None,
    query: Annotated[str, typer.Option("--query", help="Part of the address or name, any case.")] = "",
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE.csv", help="Write here, not to stdout.")] = None,
    list_slug: ListFlag = None,
) -> None:
    """Export readers as CSV (email,name,status,source,created_at,confirmed_at,unsubscribed_at)."""
    from newsletter.readers.roster import SubscriberFilter, export_csv

    with services_of(ctx) as services:
        lines = export_csv(services.sessions, SubscriberFilter(query, status, list_id_of(services, list_slug)))
        if out is None:
            for line in lines:
                sys.stdout.write(line)
            return
        with out.open("w", newline="", encoding="utf-8") as handle:
            handle.writelines(lines)


@subscribers_app.command("show")
def show_cmd(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The reader's address.")],
    as_json: JsonFlag = False,
) -> None:
    """One reader: status, dates, deliveries per state, whether the address is suppressed, and their history."""
    from newsletter.readers.roster import reader_card

    with services_of(ctx) as services:
        card = reader_card(services.sessions, services.suppression, email=email)
        audience = services.audience.reader(card.history.id)
    history = card.history
    data = {
        "id": history.id, "email": history.email, "name": history.name,
        "status": history.status.value, "source": history.source, "time_zone": history.time_zone,
        "created_at": history.created_at, "confirmed_at": history.confirmed_at,
        "unsubscribed_at": history.unsubscribed_at, "suppressed": card.suppressed,
        "deliveries": card.deliveries, "tags": audience.tags, "fields": audience.fields,
    }
    text = "\n".join(f"{k}: {v}" for k, v in data.items()) + "\n" + _history_text(history)
    data["history"] = [{"kind": e.kind.value, "detail": e.detail, "at": e.at.isoformat()} for e in history.events]
    # "deliveries" already holds the counts per state, so the list of deliveries has its own key.
    data["delivery_history"] = [
        {"issue_id": d.issue_id, "subject": d.subject, "status": d.status.value, "attempts": d.attempts,
         "error": d.error, "at": d.at.isoformat()}
        for d in history.deliveries
    ]
    emit(as_json, data, text)


def _history_text(history: SubscriberHistory, shown: int = 10) -> str:
    lines = ["history (newest first):"]
    lines += [f"  {e.at:%Y-%m-%d %H:%M} UTC  {e.kind.value}  {e.detail}".rstrip() for e in history.events[:shown]]
    if not history.events:
        lines.append("  (no events recorded)")
    elif len(history.events) > shown:
        lines.append(f"  ... {len(history.events) - shown} older events (--json lists them all)")
    lines.append("recent deliveries:")
    for d in history.deliveries[:shown]:
        error = f"  {d.error}" if d.error else ""
        lines.append(f"  {d.at:%Y-%m-%d %H:%M} UTC  issue #{d.issue_number}  {d.status.value}"
                     f" ({d.attempts} attempts){error}")
    if not history.deliveries:
        lines.append("  (none)")
    return "\n".join(lines)


@subscribers_app.command("unsuppress")
def unsuppress_cmd(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The suppressed address.")],
    as_json: JsonFlag = False,
) -> None:
    """Take an address off the suppression list (you vouch for it): a bounced or complained reader
    is active again, an unsubscribed one stays unsubscribed; recorded in the reader's history."""
    from newsletter.readers.suppression import unsuppress

    with services_of(ctx) as services:
        lifted = unsuppress(services.sessions, services.suppression, email=email, by="the owner (command line)")
    text = f"{lifted.email}: taken off the suppression list (was {lifted.reason}); "
    before, after = lifted.previous_status, lifted.status
    if before is None or after is None:
        text += "no reader has this address"
    else:
        text += f"reader #{lifted.subscriber_id} " + (f"stays {after.value}" if after is before
                                                      else f"{before.value} -> {after.value}")
    emit(as_json, lifted.as_dict(), text)


@subscribers_app.command("erase")
def erase_cmd(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The reader's address.")],
    as_json: JsonFlag = False,
) -> None:
    """Delete a reader's data (GDPR); only a keyed hash stays, so the address is never mailed again."""
    from newsletter.readers.addresses import normalise_email

    with services_of(ctx) as services:
        erased = services.subscriptions.erase(email)
    address = normalise_email(email)
    emit(as_json, {"email": address, "erased": erased, "suppressed": True},
         f"{address}: {'erased' if erased else 'no data held'}; suppressed from now on")


@subscribers_app.command("tag")
def tag_cmd(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The reader's address.")],
    tags: Annotated[list[str], typer.Argument(metavar="TAG...", help="Tags to put on the reader.")],
    as_json: JsonFlag = False,
) -> None:
    """Put tags on a reader (a tag is made when first used; tags are lower case)."""
    with services_of(ctx) as services:
        reader = services.audience.tag(email, tags)
    emit(as_json, reader.as_dict(), f"{reader.email}: tags {', '.join(reader.tags) or '(none)'}")


@subscribers_app.command("untag")
def untag_cmd(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The reader's address.")],
    tags: Annotated[list[str], typer.Argument(metavar="TAG...", help="Tags to take off the reader.")],
    as_json: JsonFlag = False,
) -> None:
    """Take tags off a reader (one they do not have is ignored)."""
    with services_of(ctx) as services:
        reader = services.audience.untag(email, tags)
    emit(as_json, reader.as_dict(), f"{reader.email}: tags {', '.join(reader.tags) or '(none)'}")
