"""Work for the clinic's staff: tasks opened by workflows, once per key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity

from activities.errors import classified
from activities.keys import workflow_key
from core.db import Database
from core.models import StaffTask


@dataclass(frozen=True)
class StaffTaskInput:
    clinic_id: str
    kind: str
    title: str  # no PHI
    detail: str = ""
    appointment_id: str | None = None
    call_id: str | None = None


class StaffActivities:
    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="open_staff_task")
    @classified
    async def open_staff_task(self, request: StaffTaskInput) -> str:
        key = workflow_key(f"/{request.kind}")
        async with self._db.read() as session:
            existing = (
                await session.exec(select(StaffTask.id).where(StaffTask.idempotency_key == key))
            ).first()
        if existing:
            return existing
        task = StaffTask(
            clinic_id=request.clinic_id,
            kind=request.kind,
            title=request.title,
            detail=request.detail,
            idempotency_key=key,
            appointment_id=request.appointment_id,
            call_id=request.call_id,
        )
        try:
            async with self._db.write() as session:
                session.add(task)
        except IntegrityError:
            return await self.open_staff_task(request)
        return task.id
