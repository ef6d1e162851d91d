"""The maintenance log per site and station: faults, repairs, inspections, and the documents
kept with them (wiring diagrams, measurement records)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from ..adapters.maintenance import KINDS, Document, MaintenanceLog, NewEntry
from ..adapters.platform import Rejected
from .common import User, current_user, render, settings_of
from .forms import optional

router = APIRouter(prefix="/maintenance")
Me = Annotated[User, Depends(current_user)]
Id = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
WRITERS = frozenset({"administrator", "fleet_manager", "site_operator", "maintainer"})
SHOWN_INLINE = frozenset({"application/pdf", "image/png", "image/jpeg", "text/plain"})


def log_of(request: Request) -> MaintenanceLog:
    log: MaintenanceLog = request.app.state.maintenance
    return log


def staff(user: User, *, writing: bool = False) -> None:
    if user.is_driver_only or (writing and not user.roles & WRITERS):
        raise Rejected(403, "Forbidden", "The maintenance log is for operators, maintainers and fleet managers")


@router.get("")
async def maintenance_page(request: Request, user: Me, site: Id = None, station: Id = None) -> Response:
    staff(user)
    site_id = site or settings_of(request).default_site_id
    found = await log_of(request).list(user.tenant_id, site if site or not station else None, station)
    return render(
        request,
        "maintenance.html",
        user=user,
        page="maintenance",
        entries=found,
        site_id=site_id,
        station_id=station or "",
        kinds=KINDS,
    )


@router.post("")
async def add_entry(
    request: Request,
    user: Me,
    kind: Annotated[str, Form(pattern="^(" + "|".join(KINDS) + ")$")],
    note: Annotated[str, Form(min_length=1, max_length=5000)],
    site_id: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")],
    station_id: Annotated[str, Form(max_length=48, pattern=r"^[A-Za-z0-9._:-]*$")] = "",
    document: Annotated[UploadFile | None, File()] = None,
) -> Response:
    staff(user, writing=True)
    limit = settings_of(request).max_document_bytes
    kept = None
    if document is not None and document.filename:
        content = await document.read(limit + 1)
        if len(content) > limit:
            raise Rejected(413, "Document too large", f"document: at most {limit} bytes")
        name = re.sub(r"[^A-Za-z0-9._ -]", "_", document.filename)[:200] or "document"
        kept = Document(name, (document.content_type or "application/octet-stream")[:100], content)
    await log_of(request).add(
        NewEntry(
            tenant_id=user.tenant_id,
            site_id=site_id,
            station_id=optional(station_id),
            kind=kind,
            note=note.strip(),
            author=f"user:{user.id}",
            created_at=request.app.state.clock.now(),
            document=kept,
        )
    )
    where = f"station={station_id}" if optional(station_id) else f"site={site_id}"
    return RedirectResponse(f"/maintenance?{where}", status_code=303)


@router.get("/{entry_id}/document")
async def document(request: Request, user: Me, entry_id: str) -> Response:
    staff(user)
    found = await log_of(request).document(user.tenant_id, entry_id)
    if found is None:
        raise Rejected(404, "No document", f"The log entry {entry_id} has no document")
    # Served as a download unless it is a type browsers show safely; never as HTML.
    content_type = found.content_type if found.content_type in SHOWN_INLINE else "application/octet-stream"
    disposition = "inline" if content_type in SHOWN_INLINE else "attachment"
    return Response(
        found.content,
        media_type=content_type,
        headers={"Content-Disposition": f'{disposition}; filename="{found.name}"'},
    )
