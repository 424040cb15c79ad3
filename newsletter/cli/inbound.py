"""`newsletter inbound`: the SMTP server for unsubscribe@, subscribe@, help@ and bounces@,
or with `--imap URL` a poller of a mailbox those addresses are delivered to."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from newsletter.cli.common import services_of
from newsletter.inbound.handler import InboundHandler, InboundUnavailable
from newsletter.inbound.imap import ImapError, parse_imap_url, poll_forever, poll_once
from newsletter.inbound.smtp_server import DEFAULT_HOST, DEFAULT_PORT, make_controller


def inbound(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = DEFAULT_PORT,
    imap: Annotated[
        str | None,
        typer.Option("--imap", help="Poll this mailbox instead of serving SMTP: imap[s]://user:password@host[:port]/Folder."),
    ] = None,
    interval: Annotated[float, typer.Option("--interval", min=1, help="Seconds between polls (with --imap).")] = 60,
    once: Annotated[bool, typer.Option("--once", help="Poll once, print how many messages were handled, exit.")] = False,
) -> None:
    """Receive mail for the list's addresses (commands, bounces, complaints) until stopped."""
    if imap is None:
        if once:
            typer.echo("error: --once needs --imap", err=True)
            raise typer.Exit(1)
        _serve_smtp(ctx, host, port)
        return
    try:
        url = parse_imap_url(imap)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    with services_of(ctx) as services:
        handler = InboundHandler(services)
        if once:
            try:
                count = poll_once(url, handler, typer.echo)
            except (ImapError, InboundUnavailable) as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from exc
            typer.echo(f"handled {count} message{'s' if count != 1 else ''} from {url}")
            return
        stop = threading.Event()
        # SIGTERM ends the loop after the poll in flight, so no message is left handled but undeleted.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        typer.echo(f"polling {url} every {interval:g} s for @{services.settings.mail_domain}")
        try:
            poll_forever(url, handler, interval, stop, typer.echo, lambda line: typer.echo(line, err=True))
        except KeyboardInterrupt:
            pass


def _serve_smtp(ctx: typer.Context, host: str, port: int) -> None:
    with services_of(ctx) as services:
        controller = make_controller(InboundHandler(services), host, port)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        controller.start()
        typer.echo(f"inbound SMTP server on {host}:{port} for @{services.settings.mail_domain}")
        try:
            while not stop.wait(3600):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
