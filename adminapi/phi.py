"""Every read and write of patient data through the API, and every change to who may reach it
(users), leaves an audit event: the one place routes call the audit trail, so what is recorded
is decided here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from adminapi.auth import Principal
from core.db import Database
from core.security.audit import record

Action = Literal["read", "create", "update", "delete", "export"]


async def audit(
    db: Database,
    principal: Principal,
    action: Action,
    record_type: str,
    record_ids: str | Iterable[str],
    detail: dict[str, Any] | None = None,
) -> None:
    """One event per record touched, all in one transaction (``detail`` must hold no PHI)."""
    ids = [record_ids] if isinstance(record_ids, str) else list(record_ids)
    if not ids:
        return
    async with db.write() as session:
        for record_id in ids:
            await record(
                session,
                actor=principal.user_id,
                role=principal.role.value,
                clinic_id=principal.clinic_id,
                action=action,
                record_type=record_type,
                record_id=record_id,
                source_ip=principal.source_ip,
                detail=detail,
            )
