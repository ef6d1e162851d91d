"""Capacity and setpoint profiles of groups, set by third parties through the API or Kafka: the
same checks, the same effect, and an audit entry for every attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from chargeyard_contracts import CapacityUpdated
from chargeyard_contracts.planning import CapacityInterval
from sqlalchemy.ext.asyncio import AsyncSession

from .adapters.orm import audit_log, capacity_profiles, group_evses, groups, parties, party_groups, stations
from .config import Settings
from .control import Publish, apply_limits, sites_of_group
from .domain.groups import Interval, InvalidProfile, hash_key, to_watts, validate


class ProfileRefused(Exception):
    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra


async def party_for_key(session: AsyncSession, api_key: str | None) -> Any:
    if not api_key:
        return None
    return (await session.execute(sa.select(parties).where(parties.c.key_hash == hash_key(api_key)))).first()


async def audit(
    session: AsyncSession,
    *,
    now: datetime,
    party_id: str | None,
    group_id: str | None,
    channel: str,
    action: str,
    accepted: bool,
    detail: dict[str, Any],
) -> None:
    await session.execute(
        audit_log.insert().values(
            at=now,
            party_id=party_id,
            group_id=group_id,
            channel=channel,
            action=action,
            accepted=accepted,
            detail=detail,
        )
    )


async def set_profile(
    session: AsyncSession,
    publish: Publish,
    settings: Settings,
    *,
    api_key: str | None,
    group_id: str,
    kind: str,
    unit: str,
    intervals: Sequence[Interval],
    now: datetime,
) -> CapacityUpdated:
    """Authenticate, authorise, validate, replace the group's profile entirely (GreenFlux: a new
    profile makes the old one forgotten, also beyond its end) and clamp the affected sites now.
    Raises ProfileRefused; the caller records the refusal in the audit log."""
    party = await party_for_key(session, api_key)
    if party is None:
        raise ProfileRefused(401, "Unknown API key", "Send the API key you were given in the X-API-Key header")
    group = (await session.execute(sa.select(groups).where(groups.c.id == group_id))).first()
    allowed = (
        await session.execute(
            sa.select(party_groups)
            .where(party_groups.c.party_id == party.id)
            .where(party_groups.c.group_id == group_id)
        )
    ).first()
    if group is None or allowed is None:
        # The same answer for a group that does not exist and one the party may not steer.
        raise ProfileRefused(403, "Group not steerable", f"Your key may not steer group {group_id}", party_id=party.id)
    members = (
        await session.execute(
            sa.select(stations.c.max_power_w, stations.c.evse_ids)
            .join(group_evses, group_evses.c.station_id == stations.c.id)
            .where(group_evses.c.group_id == group_id)
        )
    ).all()
    group_max_w = sum(m.max_power_w / max(1, len(m.evse_ids)) for m in members)
    voltage = 230.0
    try:
        validate(intervals, kind=kind, unit=unit, voltage_v=voltage, group_max_w=group_max_w)
    except InvalidProfile as exc:
        raise ProfileRefused(
            422,
            "Capacity profile is invalid",
            str(exc),
            party_id=party.id,
            errors=[{"field": f"intervals.{exc.index}", "message": str(exc)}],
        ) from exc
    stored = [[i.start.isoformat(), i.end.isoformat(), i.value, to_watts(i.value, unit, voltage)] for i in intervals]
    await session.execute(capacity_profiles.delete().where(capacity_profiles.c.group_id == group_id))
    await session.execute(
        capacity_profiles.insert().values(
            group_id=group_id, kind=kind, unit=unit, intervals=stored, set_by=party.id, updated_at=now
        )
    )
    event = CapacityUpdated(
        group_id=group_id,
        intervals=tuple(CapacityInterval(start=a, end=b, limit_w=int(w)) for a, b, _v, w in stored),
        set_by=party.id,
        updated_at=now,
    )
    await publish(event)
    for site_id in await sites_of_group(session, group_id):
        await apply_limits(session, publish, settings, site_id, now)
    return event
