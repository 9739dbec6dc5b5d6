"""``spamops notify``: test the webhook receivers, see what waits in the outbox, send it now.

``test`` POSTs a test event to every ``[[notify.webhooks]]`` receiver and exits 1 when any
refused it; ``status`` lists each receiver's health and the pending and failed deliveries;
``send`` delivers what is due now (the on-demand sender, for hosts without a long-lived
spamops process).
"""

from __future__ import annotations

import sys

import click

from engine.cli._common import emit_json, json_option, services_of, settings_of


@click.group("notify")
def notify_group() -> None:
    """Webhook notifications: test receivers, list pending and failed deliveries, send."""


def _require_receivers(ctx: click.Context) -> None:
    if not settings_of(ctx).notify.webhooks:
        from engine.errors import ConfigError

        raise ConfigError("no webhook receivers configured: add [[notify.webhooks]] entries "
                          "to spamops.toml (see README, 'Alerts and notifications')")


@notify_group.command("test")
@json_option
@click.pass_context
def test(ctx: click.Context, as_json: bool) -> None:
    """Send a test event to each receiver now; exit 1 if any receiver failed."""
    _require_receivers(ctx)
    results = services_of(ctx).notify_test()
    if as_json:
        emit_json({"results": results, "ok": all(r.ok for r in results)})
    else:
        for r in results:
            click.echo(f"{r.receiver}: " + (f"ok (HTTP {r.status_code})" if r.ok
                                            else f"FAILED: {r.error}"))
    if not all(r.ok for r in results):
        sys.exit(1)


@notify_group.command("status")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1),
              help="List at most this many pending/failed deliveries.")
@json_option
@click.pass_context
def status(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Each receiver's health, then every pending and failed delivery (oldest first)."""
    receivers, deliveries = services_of(ctx).notify_status(limit)
    if as_json:
        emit_json({"receivers": [dict(_plain(r), failing=r.failing) for r in receivers],
                   "deliveries": [_delivery_json(d) for d in deliveries]})
        return
    if not receivers:
        click.echo("no webhook receivers configured and nothing in the outbox")
    for r in receivers:
        state = "FAILING" if r.failing else "ok"
        extra = "" if r.configured else " (no longer configured: its deliveries wait)"
        click.echo(f"{r.receiver}: {state}{extra}; {r.pending} pending ({r.retrying} "
                   f"retrying), {r.failed} failed, {r.delivered} delivered"
                   + (f"; last error: {r.last_error}" if r.failing and r.last_error else ""))
    if deliveries:
        click.echo("")
        click.echo(f"{'status':<9} {'attempts':>8}  {'next attempt (UTC)':<19}  "
                   f"{'event':<20} {'receiver':<24} last error")
        for d in deliveries:
            click.echo(f"{d.status:<9} {d.attempts:>8}  {d.next_attempt_at:%Y-%m-%d %H:%M:%S}  "
                       f"{d.event_type:<20} {d.receiver:<24} {d.last_error}")


@notify_group.command("send")
@json_option
@click.pass_context
def send(ctx: click.Context, as_json: bool) -> None:
    """Deliver every due pending event now (long-lived processes do this in the background)."""
    _require_receivers(ctx)
    summary = services_of(ctx).deliver_notifications()
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"delivered {summary.delivered}, retrying {summary.retrying}, "
                   f"gave up {summary.gave_up}")


def _plain(value: object) -> dict[str, object]:
    from engine.cli._common import to_jsonable

    result: dict[str, object] = to_jsonable(value)
    return result


def _delivery_json(delivery: object) -> dict[str, object]:
    body = _plain(delivery)
    body.pop("payload", None)
    return body


commands: list[click.Command] = [notify_group]
