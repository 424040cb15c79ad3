"""`newsletter inbound`: the SMTP server for unsubscribe@, subscribe@, help@ and bounces@."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from newsletter.cli_common import services_of
from newsletter.inbound import InboundHandler
from newsletter.inbound_server import DEFAULT_HOST, DEFAULT_PORT, make_controller


def inbound(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = DEFAULT_PORT,
) -> None:
    """Receive mail for the list's addresses (commands, bounces, complaints) until stopped."""
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
