"""The embedded CRM: notes in a local table, one per external key."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from core.models import CrmNote as CrmNoteRow
from integrations.crm.protocol import CrmNote
from integrations.registry import AdapterContext


class LocalCrm:
    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        self._db = context.db

    async def _existing(self, key: str) -> str | None:
        async with self._db.read() as session:
            row = (
                await session.exec(select(CrmNoteRow.id).where(CrmNoteRow.external_key == key))
            ).first()
        return row

    async def write_note(self, note: CrmNote) -> str:
        existing = await self._existing(note.external_key)
        if existing:
            return existing
        try:
            async with self._db.write() as session:
                row = CrmNoteRow(
                    clinic_id=note.clinic_id,
                    external_key=note.external_key,
                    patient_id=note.patient_id,
                    call_sid=note.call_sid,
                    subject=note.subject,
                    body=note.body,
                    occurred_at=note.occurred_at,
                )
                session.add(row)
            return row.id
        except IntegrityError:  # a concurrent retry wrote it first
            return await self._existing(note.external_key) or ""
