"""Station credentials: the security profile and the password hash, read at every handshake and
written through the REST API. The hash never leaves this module and the stations table."""

from __future__ import annotations

import asyncio
from datetime import datetime

import sqlalchemy as sa
from chargeyard_platform.db import Database
from sqlalchemy.ext.asyncio import AsyncSession

from ..adapters.orm import stations
from ..adapters.passwords import PasswordChecker, hash_password
from ..domain.admission import SecurityProfile, StationSecurity
from .group_read import GroupRead


class StationCredentials:
    def __init__(
        self, db: Database, checker: PasswordChecker, *, window_s: float = 0.002, max_items: int = 1000
    ) -> None:
        self.db = db
        self.checker = checker
        # Every handshake reads its station's row: concurrent handshakes share one query.
        self._reads: GroupRead[str, StationSecurity] = GroupRead(
            self._read, window_s=window_s, max_items=max_items, name="credentials-read"
        )

    async def security_of(self, station_id: str) -> StationSecurity | None:
        return await self._reads.get(station_id)

    async def _read(self, station_ids: list[str]) -> dict[str, StationSecurity]:
        async with self.db.sessions() as session:
            rows = (
                await session.execute(
                    sa.select(stations.c.id, stations.c.security_profile, stations.c.password_hash).where(
                        stations.c.id.in_(station_ids)
                    )
                )
            ).all()
        return {row.id: StationSecurity(SecurityProfile(row.security_profile or 0), row.password_hash) for row in rows}

    async def close(self) -> None:
        await self._reads.aclose()

    async def password_matches(self, security: StationSecurity, password: str) -> bool:
        return security.password_hash is not None and await self.checker.check(security.password_hash, password)


async def set_credentials(
    session: AsyncSession, station_id: str, *, profile: SecurityProfile | None, password: str | None, now: datetime
) -> None:
    """In the caller's transaction (the station row exists)."""
    values: dict[str, object] = {}
    if profile is not None:
        values["security_profile"] = int(profile)
    if password is not None:
        values["password_hash"] = await asyncio.to_thread(hash_password, password)  # a KDF: off the loop
        values["password_updated_at"] = now
    if values:
        await session.execute(stations.update().where(stations.c.id == station_id).values(**values))
