"""The audit trail for compliance officers: export a date range, and check the hash chain.

Exporting the trail is itself audited (action "export"). The chain is verified whole (it spans
every clinic), but the answer names only the first broken row's id, never another clinic's data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel

from adminapi.auth import Principal, clinic_access, require_roles
from adminapi.deps import Services
from core.models import Role
from core.security import audit

MAX_RANGE = timedelta(days=366)


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    clinic_id: str | None
    action: str
    record_type: str
    record_id: str
    source_ip: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditExport(BaseModel):
    start: datetime
    end: datetime
    clinic_id: str | None
    events: list[AuditEventOut]


class ChainCheck(BaseModel):
    intact: bool
    first_broken_id: int | None = None
    reason: str | None = None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must be after start")
    if end - start > MAX_RANGE:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "export at most 366 days at a time"
        )
    return start, end


Start = Annotated[datetime, Query(description="inclusive, ISO 8601 (UTC when no offset)")]
End = Annotated[datetime, Query(description="exclusive, ISO 8601 (UTC when no offset)")]


async def _export(
    services: Services, principal: Principal, start: datetime, end: datetime, clinic: str | None
) -> AuditExport:
    start, end = _range(start, end)
    events = await audit.export(services.db, start, end, clinic)
    await audit.record(
        services.db,
        actor=principal.user_id,
        role=principal.role.value,
        clinic_id=clinic,
        action=audit.Action.EXPORT,
        record_type="audit_log",
        record_id=clinic or "*",
        source_ip=principal.source_ip,
        detail={"start": start.isoformat(), "end": end.isoformat(), "events": len(events)},
    )
    return AuditExport(
        start=start,
        end=end,
        clinic_id=clinic,
        events=[AuditEventOut.model_validate(e) for e in events],
    )


async def _verify(services: Services) -> ChainCheck:
    broken = await audit.verify_chain(services.db)
    if broken is None:
        return ChainCheck(intact=True)
    return ChainCheck(intact=False, first_broken_id=broken.event_id, reason=broken.reason)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["audit"])

    @router.get("/clinics/{clinic_id}/audit", response_model=AuditExport)
    async def clinic_audit(
        clinic_id: str,
        services: Services,
        principal: Annotated[Principal, Depends(clinic_access(Role.ADMIN))],
        start: Start,
        end: End,
    ) -> AuditExport:
        """Every audit event of this clinic in ``[start, end)``, oldest first (admins)."""
        return await _export(services, principal, start, end, clinic_id)

    @router.get("/clinics/{clinic_id}/audit/verify", response_model=ChainCheck)
    async def clinic_audit_verify(
        services: Services,
        _principal: Annotated[Principal, Depends(clinic_access(Role.ADMIN))],
    ) -> ChainCheck:
        """Recompute the hash chain: intact, or the first row that was altered or removed."""
        return await _verify(services)

    @router.get("/audit", response_model=AuditExport)
    async def platform_audit(
        services: Services,
        principal: Annotated[Principal, Depends(require_roles(Role.OPERATOR))],
        start: Start,
        end: End,
    ) -> AuditExport:
        """The whole platform's audit events in ``[start, end)`` (the operator)."""
        return await _export(services, principal, start, end, None)

    @router.get("/audit/verify", response_model=ChainCheck)
    async def platform_audit_verify(
        services: Services,
        _principal: Annotated[Principal, Depends(require_roles(Role.OPERATOR))],
    ) -> ChainCheck:
        return await _verify(services)

    return router
