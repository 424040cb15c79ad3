"""`newsletter webhooks ...`: outgoing webhook endpoints, their delivery log, replay, delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from newsletter.cli.common import JsonFlag, emit, services_of, settings_of

if TYPE_CHECKING:
    from newsletter.webhooks.endpoints import EndpointInfo
    from newsletter.webhooks.messages import MessageInfo

webhooks_app = typer.Typer(help="Outgoing webhooks (Standard Webhooks).", no_args_is_help=True)


def endpoint_dict(info: EndpointInfo) -> dict[str, Any]:
    return {"id": info.id, "url": info.url, "events": info.events, "enabled": info.enabled,
            "created_at": info.created_at.isoformat()}


def message_dict(message: MessageInfo) -> dict[str, Any]:
    def when(moment: Any) -> str | None:
        return moment.isoformat() if moment is not None else None

    return {
        "id": message.id, "endpoint_id": message.endpoint_id, "event": message.event_type, "status": message.status,
        "attempts": message.attempts, "last_code": message.last_code, "last_error": message.last_error,
        "created_at": when(message.created_at), "next_attempt_at": when(message.next_attempt_at),
        "delivered_at": when(message.delivered_at),
        "log": [{"at": when(a.at), "code": a.code, "error": a.error, "duration_ms": a.duration_ms} for a in message.log],
    }


@webhooks_app.command("create")
def create(
    ctx: typer.Context,
    url: Annotated[str, typer.Option("--url", help="The endpoint: http(s)://...")],
    events: Annotated[str, typer.Option("--events", help="Comma-separated: subscribed,confirmed,unsubscribed,"
                                        "bounced,complained,sent,opened,clicked,issue.sent")],
    as_json: JsonFlag = False,
) -> None:
    """Add an endpoint; prints its signing secret once."""
    from newsletter.webhooks.endpoints import create_endpoint

    with services_of(ctx) as services:
        info = create_endpoint(services.sessions, url, events, allow_private=services.settings.webhooks_allow_private)
    emit(as_json, {"id": info.id, "url": info.url, "events": info.events, "secret": info.secret},
         f"webhook {info.id}: {info.url} ({', '.join(info.events)})\nsecret (shown once): {info.secret}")


@webhooks_app.command("list")
def list_cmd(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The endpoints and the events each gets."""
    from newsletter.webhooks.endpoints import list_endpoints

    with services_of(ctx) as services:
        found = list_endpoints(services.sessions)
    lines = [f"{e.id}  {e.url}  {','.join(e.events)}{'' if e.enabled else '  (disabled)'}" for e in found]
    emit(as_json, {"webhooks": [endpoint_dict(e) for e in found]}, "\n".join(lines) or "no webhooks")


@webhooks_app.command("remove")
def remove(ctx: typer.Context, endpoint_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Delete an endpoint with its messages and log."""
    from newsletter.webhooks.endpoints import remove_endpoint

    with services_of(ctx) as services:
        info = remove_endpoint(services.sessions, endpoint_id)
    emit(as_json, {"id": info.id, "removed": True}, f"webhook {info.id} removed ({info.url})")


@webhooks_app.command("disable")
def disable(ctx: typer.Context, endpoint_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Pause an endpoint: no events are added for it, its waiting messages wait."""
    _set_enabled(ctx, endpoint_id, False, as_json)


@webhooks_app.command("enable")
def enable(ctx: typer.Context, endpoint_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Resume a paused endpoint: events are added again and its waiting messages go out."""
    _set_enabled(ctx, endpoint_id, True, as_json)


def _set_enabled(ctx: typer.Context, endpoint_id: int, enabled: bool, as_json: bool) -> None:
    from newsletter.webhooks.endpoints import set_enabled

    with services_of(ctx) as services:
        info = set_enabled(services.sessions, endpoint_id, enabled)
    emit(as_json, endpoint_dict(info), f"webhook {info.id} {'enabled' if enabled else 'disabled'} ({info.url})")


@webhooks_app.command("log")
def log_cmd(
    ctx: typer.Context,
    endpoint_id: Annotated[int, typer.Argument(metavar="ID")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Newest messages shown.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """An endpoint's messages, newest first, with every attempt."""
    from newsletter.webhooks.messages import endpoint_log

    with services_of(ctx) as services:
        messages, total = endpoint_log(services.sessions, endpoint_id, limit)
    lines = [
        f"{m.id}  {m.event_type}  {m.status}  attempts {m.attempts}"
        + (f"  last: {m.last_code or ''} {m.last_error}".rstrip() if m.last_code or m.last_error else "")
        for m in messages
    ]
    emit(as_json, {"id": endpoint_id, "total": total, "messages": [message_dict(m) for m in messages]},
         "\n".join(lines) or f"webhook {endpoint_id} has no messages")


@webhooks_app.command("replay")
def replay_cmd(ctx: typer.Context, msg_id: Annotated[str, typer.Argument(metavar="MESSAGE_ID")],
               as_json: JsonFlag = False) -> None:
    """Queue a message (msg_...) again; the worker delivers it."""
    from newsletter.webhooks.messages import replay

    with services_of(ctx) as services:
        message = replay(services.sessions, msg_id)
    emit(as_json, {"id": message.id, "status": message.status}, f"{message.id} queued again")


@webhooks_app.command("deliver")
def deliver(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="One pass over what is due now, then exit.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Deliver due webhook messages (`newsletter worker` does this too); Ctrl-C stops."""
    from newsletter.db.engine import make_engine, migrate, session_factory
    from newsletter.delivery.pool import stop_on_signals
    from newsletter.webhooks.courier import POLL_SECONDS
    from newsletter.webhooks.deliver import DeliverReport, deliver_due

    settings = settings_of(ctx)
    engine = make_engine(settings.database)
    migrate(engine)
    sessions = session_factory(engine)
    total = DeliverReport()
    stop = None if once else stop_on_signals()
    try:
        while True:
            report = deliver_due(sessions, allow_private=settings.webhooks_allow_private)
            total.delivered += report.delivered
            total.retrying += report.retrying
            total.failed += report.failed
            if stop is None and not report.attempted:
                break
            if stop is not None and not report.attempted and stop.wait(POLL_SECONDS):
                break
    finally:
        engine.dispose()
    emit(as_json, {"delivered": total.delivered, "retrying": total.retrying, "failed": total.failed},
         f"delivered {total.delivered}, to retry {total.retrying}, failed {total.failed}")
