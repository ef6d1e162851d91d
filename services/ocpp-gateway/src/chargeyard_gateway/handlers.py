"""Events this service reacts to: commands for stations, and the token list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from chargeyard_contracts import StationCommandIssued, TokensUpdated
from chargeyard_platform.bus import Context, Handler
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import tokens
from .service_layer.dispatcher import record_command

CommandRecorded = Callable[[AsyncSession, StationCommandIssued], Awaitable[None]]


def make_handlers(
    wake_dispatcher: Callable[[], None],
    *,
    command_recorded: CommandRecorded | None = None,
    instance_id: str | None = None,
) -> dict[type, Handler]:
    async def on_station_command(event: StationCommandIssued, ctx: Context) -> None:
        """Recorded only: the dispatcher delivers it once this transaction has committed, so the
        consumer never waits on a station's websocket. `command_recorded` tells the other gateway
        instances in the same transaction (the station's socket may be on any of them)."""
        if await record_command(
            ctx.session,
            event,
            received_at=ctx.clock.now(),
            correlation_id=ctx.envelope.correlation_id or str(ctx.envelope.event_id),
            recorded_by=instance_id,
        ):
            if command_recorded is not None:
                await command_recorded(ctx.session, event)
            sa.event.listen(ctx.session.sync_session, "after_commit", lambda _session: wake_dispatcher(), once=True)

    async def on_tokens_updated(event: TokensUpdated, ctx: Context) -> None:
        """A full list replaces the table; a differential one upserts (OCPP 1.6 §5.15 SendLocalList)."""
        now = ctx.clock.now()
        if event.full:
            await ctx.session.execute(tokens.delete())
        else:
            ids = [t.id_token for t in event.tokens]
            await ctx.session.execute(tokens.delete().where(tokens.c.id_token.in_(ids)))
        if event.tokens:
            await ctx.session.execute(
                tokens.insert(),
                [
                    {
                        "id_token": t.id_token,
                        "status": t.status,
                        "driver_id": t.driver_id,
                        "expires_at": t.expires_at,
                        "version": event.version,
                        "updated_at": now,
                    }
                    for t in event.tokens
                ],
            )

    return {StationCommandIssued: on_station_command, TokensUpdated: on_tokens_updated}
