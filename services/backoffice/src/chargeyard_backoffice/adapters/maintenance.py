"""The maintenance log, the one thing the back office keeps itself: no other service owns the
faults, repairs and documents (wiring diagrams, measurement records) people write down."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from chargeyard_platform.db import Database, UtcDateTime

metadata = sa.MetaData()

entries = sa.Table(
    "maintenance_entries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("site_id", sa.String(64), nullable=False),
    sa.Column("station_id", sa.String(48)),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("document_name", sa.String(200)),
    sa.Column("document_type", sa.String(100)),
    sa.Column("document_size", sa.Integer),
    sa.Column("document", sa.LargeBinary),
)

KINDS = ("fault", "repair", "inspection", "document")


@dataclass(frozen=True)
class Document:
    name: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class NewEntry:
    tenant_id: str
    site_id: str
    station_id: str | None
    kind: str
    note: str
    author: str
    created_at: datetime
    document: Document | None = None


class MaintenanceLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, entry: NewEntry) -> str:
        entry_id = str(uuid.uuid4())
        document = entry.document
        async with self.db.transaction() as session:
            await session.execute(
                entries.insert().values(
                    id=entry_id,
                    tenant_id=entry.tenant_id,
                    site_id=entry.site_id,
                    station_id=entry.station_id,
                    kind=entry.kind,
                    note=entry.note,
                    author=entry.author,
                    created_at=entry.created_at,
                    document_name=document.name if document else None,
                    document_type=document.content_type if document else None,
                    document_size=len(document.content) if document else None,
                    document=document.content if document else None,
                )
            )
        return entry_id

    async def list(self, tenant_id: str, site_id: str | None, station_id: str | None) -> list[dict[str, Any]]:
        columns = [c for c in entries.c if c.name != "document"]
        query = sa.select(*columns).where(entries.c.tenant_id == tenant_id).order_by(entries.c.created_at.desc())
        if site_id:
            query = query.where(entries.c.site_id == site_id)
        if station_id:
            query = query.where(entries.c.station_id == station_id)
        async with self.db.sessions() as session:
            return [dict(r._mapping) for r in (await session.execute(query.limit(500))).all()]

    async def document(self, tenant_id: str, entry_id: str) -> Document | None:
        async with self.db.sessions() as session:
            row = (
                await session.execute(
                    sa.select(entries.c.document_name, entries.c.document_type, entries.c.document)
                    .where(entries.c.id == entry_id)
                    .where(entries.c.tenant_id == tenant_id)
                )
            ).first()
        if row is None or row.document is None:
            return None
        return Document(row.document_name, row.document_type, row.document)
