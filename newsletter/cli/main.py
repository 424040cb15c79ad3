"""The `newsletter` command: ingest, subscribers, issues, serve, worker, scheduler.

Settings are built once, when a command first asks (`common.settings_of`), and passed down.
`main()` maps errors once: a domain error (`newsletter.errors`) is one line and its kind's exit
code; anything else is a bug, logged with its traceback and shown as one "internal error" line
with exit 70.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.audience import fields_app, segments_app
from newsletter.cli.bounces import bounces_app
from newsletter.cli.common import JsonFlag, emit, progress_bar, services_of, settings_of
from newsletter.cli.dkim import dkim_app
from newsletter.cli.inbound import inbound
from newsletter.cli.ab import ab_cmd, ab_decide_cmd
from newsletter.cli.figures import figures_cmd
from newsletter.cli.issues import issues_app
from newsletter.cli.lists import lists_app
from newsletter.cli.run import run
from newsletter.cli.schedule import schedule_app
from newsletter.cli.sources import sources_app
from newsletter.cli.subscribers import subscribers_app
from newsletter.cli.users import tokens_app, users_app
from newsletter.cli.webhooks import webhooks_app
from newsletter.errors import INTERNAL_ERROR_EXIT, NewsletterError


app = typer.Typer(
    help="A self-hosted weekly newsletter.", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: rendering it with rich costs ~0.2 s at every start
)
app.add_typer(issues_app, name="issues")
issues_app.command("figures")(figures_cmd)
issues_app.command("ab")(ab_cmd)
issues_app.command("ab-decide")(ab_decide_cmd)
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(lists_app, name="lists")
app.add_typer(segments_app, name="segments")
app.add_typer(fields_app, name="fields")
app.add_typer(schedule_app, name="schedule")
app.add_typer(sources_app, name="sources")
app.add_typer(bounces_app, name="bounces")
app.add_typer(dkim_app, name="dkim")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(webhooks_app, name="webhooks")
app.command("inbound")(inbound)
app.command("run")(run)

# The Settings are built once, by the first command that asks for them (`settings_of`), so that
# `--help` at any level reads no settings and creates nothing in the data dir.


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
    from newsletter.media.fetch import ingest_localiser

    with services_of(ctx) as services, progress_bar("ingesting", not as_json) as update:
        images = ingest_localiser(services.media, services.settings)  # remote images copied once
        report = ingest_path(services.sessions, path, progress=update, images=images)
    data = {
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "errors": [{"file": name, "reason": reason} for name, reason in report.errors],
        "warnings": report.warnings,
    }
    lines = [f"added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}"]
    lines += [f"error: {name}: {reason}" for name, reason in report.errors]
    lines += [f"warning: {note}" for note in report.warnings]
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

    from newsletter.services import Services
    from newsletter.web.app import create_app
    from newsletter.web.serving import uvicorn_options

    # Links in emails point at this server unless NEWSLETTER_BASE_URL names the public address.
    with closing(Services.build(settings_of(ctx).served_at(host, port))) as services:
        # Proxy headers only from NEWSLETTER_TRUSTED_PROXIES; reader tokens kept out of the access log.
        options = uvicorn_options(services.settings)
        uvicorn.run(create_app(services), host=host, port=port, log_level="info", **options)


@app.command()
def worker(
    ctx: typer.Context,
    processes: Annotated[
        int | None, typer.Option("--processes", help="Worker processes (default: settings, else auto).")
    ] = None,
    connections: Annotated[
        int | None, typer.Option("--connections", help="SMTP connections per process (default: settings, else auto).")
    ] = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once no delivery is queued, leased or deferred.")
    ] = False,
    drain: Annotated[bool, typer.Option("--drain", help="Exit when nothing can be sent right now.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Send queued deliveries: claim a batch, send, record each outcome, repeat."""
    from newsletter.delivery.pool import WorkerOptions, run_one, run_pool, stop_on_signals
    from newsletter.delivery.runtime import SendingParts
    from newsletter.delivery.sizing import plan_workers
    from newsletter.mail.backends.smtp_relays import sending_through
    from newsletter.webhooks.courier import Courier

    settings = settings_of(ctx)
    plan = plan_workers(settings, processes, connections)  # flags, else settings, else by cores and database
    settings = settings.model_copy(update={"worker_processes": plan.processes, "smtp_connections": plan.connections})
    count = plan.processes
    options = WorkerOptions(processes=count, drain=drain, until_idle=until_idle)
    # Migrate once here, not in every process (and a bad backend name stops us here); only the
    # sending parts, so the processes forked from here carry no renderer or web code.
    SendingParts.build(settings, run_migrations=True).close()
    stops = "" if drain or until_idle else "; Ctrl-C stops"
    typer.echo(f"worker: {plan.describe()}, sending through {sending_through(settings)}{stops}", err=True)
    # Webhooks are delivered by a thread of this (parent) process, beside the sending, never in it.
    if count > 1:
        code = run_pool(settings, options, beside=lambda: Courier(settings, flush=drain or until_idle))
        emit(as_json, {"processes": count, "exit_code": code}, f"{count} worker processes finished")
        raise typer.Exit(code)
    sent = 0
    with progress_bar("sending", (drain or until_idle) and not as_json) as update, \
            Courier(settings, flush=drain or until_idle):

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


log = logging.getLogger("newsletter.cli")
ERROR_LOG = "errors.log"  # in the data dir, when nothing else configured logging


def _error_log() -> str:
    """Where an internal error's traceback goes: the configured logging, or the data dir's errors.log."""
    if logging.getLogger().hasHandlers():
        return "the log"
    try:
        from newsletter.config import load_settings

        data_dir = load_settings().data_dir
    except Exception:  # noqa: BLE001 - broken settings must not hide the bug being reported
        data_dir = Path(os.environ.get("NEWSLETTER_DATA_DIR", "var"))
    path = data_dir / ERROR_LOG
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return "the log"  # logging's last resort: stderr
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    return str(path)


def main() -> None:
    """Run the CLI with the one mapping of errors to what the user sees and to exit codes."""
    try:
        app()
    except NewsletterError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug, never a user error: the traceback to the log, one line to the user
        where = _error_log()
        # The command's words only: its values may hold secrets (an --imap URL has a password).
        command = " ".join(arg for arg in sys.argv[1:3] if arg.isalpha())
        log.exception("internal error in `newsletter %s`", command)
        typer.echo(f"internal error (a bug, not something you did): {type(exc).__name__}: {exc}; "
                   f"the traceback is in {where}", err=True)
        sys.exit(INTERNAL_ERROR_EXIT)
