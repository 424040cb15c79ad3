"""`newsletter run`: everything one machine needs (web, worker, scheduler, optionally inbound
SMTP) as one supervised group of child processes; the rules are in `newsletter.supervisor`."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from newsletter.cli.common import services_of, settings_of
from newsletter.cli.inbound import DEFAULT_PORT as INBOUND_PORT


def run(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address the web app listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port the web app listens on.")] = 8000,
    inbound: Annotated[bool, typer.Option("--inbound", help="Also run the inbound SMTP server.")] = False,
    inbound_host: Annotated[str, typer.Option("--inbound-host", help="Address of the inbound SMTP server.")] = (
        "127.0.0.1"
    ),
    inbound_port: Annotated[int, typer.Option("--inbound-port", help="Port of the inbound SMTP server.")] = INBOUND_PORT,
    grace: Annotated[
        float, typer.Option("--grace", min=0, help="Seconds each process has to stop before it is killed.")
    ] = 30,
) -> None:
    """Upgrade the database, then run the web app, a worker and the scheduler (and with --inbound the
    inbound SMTP server) until Ctrl-C or SIGTERM stops them all. If one dies, the rest are stopped (exit 1)."""
    from newsletter.supervisor import Child, Supervisor

    settings = settings_of(ctx).served_at(host, port)
    with services_of(ctx) as services:  # migrates once here, before any child opens the database
        where = services.engine.url.render_as_string(hide_password=True)
    typer.echo(f"database ready: {where}", err=True)
    newsletter = [sys.executable, "-m", "newsletter"]
    children = [
        Child("web", [*newsletter, "serve", "--host", host, "--port", str(port)]),
        Child("worker", [*newsletter, "worker"]),
        Child("scheduler", [*newsletter, "scheduler"]),
    ]
    if inbound:
        children.append(Child("inbound", [*newsletter, "inbound", "--host", inbound_host, "--port", str(inbound_port)]))
    # Every child links to the same address (the web app's, unless NEWSLETTER_BASE_URL says otherwise).
    env = {**os.environ, "NEWSLETTER_BASE_URL": settings.base_url}
    typer.echo(f"web app on http://{host}:{port}, links in emails to {settings.base_url}; Ctrl-C stops", err=True)
    raise typer.Exit(Supervisor(children, env=env, grace=grace).run())
