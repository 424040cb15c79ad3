"""`newsletter inbound`: the SMTP server for unsubscribe@, subscribe@, help@ and bounces@,
or with `--imap URL` a poller of a mailbox those addresses are delivered to."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from newsletter.cli.common import services_of

# newsletter.inbound.smtp_server's defaults, spelt here: that module (aiosmtpd) is imported only
# when the command runs, so `newsletter --help` starts fast.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2525


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
    from newsletter.inbound.handler import InboundHandler
    from newsletter.inbound.imap import parse_imap_url, poll_forever, poll_once

    url = parse_imap_url(imap)  # InvalidImapUrl: one line and exit 1, from main()
    with services_of(ctx) as services:
        handler = InboundHandler(services)
        if once:
            count = poll_once(url, handler, typer.echo)  # ImapError, InboundUnavailable: mapped by main()
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
    from newsletter.inbound.handler import InboundHandler
    from newsletter.inbound.smtp_server import make_controller

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
