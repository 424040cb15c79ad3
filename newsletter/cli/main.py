"""The `newsletter` command: ingest, subscribers, issues, serve, worker, scheduler.

Settings are built once here and passed down; domain errors become one clear line and exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from newsletter.mail.backends import BackendError
from newsletter.cli.bounces import bounces_app
from newsletter.cli.common import JsonFlag, emit, progress_bar, services_of, settings_of
from newsletter.cli.dkim import dkim_app
from newsletter.cli.inbound import inbound
from newsletter.cli.figures import figures_cmd
from newsletter.cli.issues import issues_app
from newsletter.cli.schedule import schedule_app
from newsletter.cli.sources import sources_app
from newsletter.cli.subscribers import subscribers_app
from newsletter.cli.users import tokens_app, users_app
from newsletter.issues.compose import ComposeError
from newsletter.config import load_settings
from newsletter.schedule.weekly import ScheduleError
from newsletter.db.engine import DatabaseUnavailable
from newsletter.delivery.types import StoreUnavailable
from newsletter.readers.importer import ImportFileError
from newsletter.content.ingest import IngestError
from newsletter.issues.publishing import IssueNotFound, IssueStateError, TestSendFailed
from newsletter.render.issue import TemplateError
from newsletter.content.sources import SourceError
from newsletter.readers.addresses import InvalidAddress
from newsletter.readers.subscriptions import ConfirmationNotSent

# Errors a user can act on: shown as one line, never as a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    BackendError,
    ComposeError,
    ConfirmationNotSent,
    DatabaseUnavailable,
    ImportFileError,
    IngestError,
    InvalidAddress,
    IssueNotFound,
    StoreUnavailable,
    IssueStateError,
    ScheduleError,
    SourceError,
    TemplateError,
    TestSendFailed,
    ValueError,
)

app = typer.Typer(
    help="A self-hosted weekly newsletter.", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(issues_app, name="issues")
issues_app.command("figures")(figures_cmd)
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(schedule_app, name="schedule")
app.add_typer(sources_app, name="sources")
app.add_typer(bounces_app, name="bounces")
app.add_typer(dkim_app, name="dkim")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.command("inbound")(inbound)

@app.callback()
def _root(ctx: typer.Context) -> None:
    try:
        ctx.obj = load_settings()
    except ValidationError as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc


db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Create or upgrade the schema of the database NEWSLETTER_DATABASE_URL names."""
    with services_of(ctx) as services:
        where = services.engine.url.render_as_string(hide_password=True)
    emit(as_json, {"database": where, "upgraded": True}, f"database ready: {where}")


@app.command(hidden=True)
def migrate(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Same as `db upgrade`."""
    db_upgrade(ctx, as_json)


@app.command()
def ingest(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A seed-format or Markdown file, or a folder of them.")],
    as_json: JsonFlag = False,
) -> None:
    """Turn article files into articles (re-ingesting the same file changes nothing)."""
    from newsletter.content.ingest import ingest_path

    with services_of(ctx) as services, progress_bar("ingesting", not as_json) as update:
        report = ingest_path(services.sessions, path, progress=update)
    data = {
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "errors": [{"file": name, "reason": reason} for name, reason in report.errors],
    }
    lines = [f"added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}"]
    lines += [f"error: {name}: {reason}" for name, reason in report.errors]
    emit(as_json, data, "\n".join(lines))
    if report.errors:
        raise typer.Exit(1)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web app (subscribe pages, archive, admin)."""
    import uvicorn

    from newsletter.web.app import create_app

    with services_of(ctx) as services:
        uvicorn.run(create_app(services), host=host, port=port, log_level="info")


@app.command()
def worker(
    ctx: typer.Context,
    processes: Annotated[int | None, typer.Option("--processes", help="Worker processes (default: settings).")] = None,
    connections: Annotated[
        int | None, typer.Option("--connections", help="SMTP connections per process (default: settings).")
    ] = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once no delivery is queued, leased or deferred.")
    ] = False,
    drain: Annotated[bool, typer.Option("--drain", help="Exit when nothing can be sent right now.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Send queued deliveries: claim a batch, send, record each outcome, repeat."""
    from newsletter.delivery.pool import WorkerOptions, effective_processes, run_one, run_pool, stop_on_signals

    settings = settings_of(ctx)
    if connections is not None:
        settings = settings.model_copy(update={"smtp_connections": connections})
    count = effective_processes(settings, processes or settings.worker_processes)
    if count != (processes or settings.worker_processes):
        typer.echo("SQLite has one writer: running one worker process", err=True)
    options = WorkerOptions(processes=count, drain=drain, until_idle=until_idle)
    with services_of(ctx):
        pass  # migrate once here, not in every process
    if count > 1:
        code = run_pool(settings, options)
        emit(as_json, {"processes": count, "exit_code": code}, f"{count} worker processes finished")
        raise typer.Exit(code)
    if not (drain or until_idle or as_json):
        typer.echo(f"worker sending through {settings.backend}; Ctrl-C stops", err=True)
    sent = 0
    with progress_bar("sending", (drain or until_idle) and not as_json) as update:

        def counted(n: int) -> None:
            nonlocal sent
            sent += n
            update(sent, 0)

        run_one(settings, options, stop=stop_on_signals(), on_batch=counted)
    emit(as_json, {"handled": sent}, f"handled {sent} deliveries")


@app.command()
def scheduler(ctx: typer.Context) -> None:
    """Run the scheduler process (the weekly compose-and-send cycle)."""
    from newsletter.schedule.process import run_scheduler

    run_scheduler(settings_of(ctx))


def main() -> None:
    try:
        app()
    except USER_ERRORS as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
