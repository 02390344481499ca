"""The staff task queue: work the receptionist left for people (a failed booking, a transfer to
call back, insurance to verify)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlmodel import col, select

from adminapi import roles
from adminapi.auth import Principal, clinic_access
from adminapi.deps import Limit, Offset, Services, owned
from adminapi.phi import audit
from core.models import StaffTask, StaffTaskStatus, utcnow


class TaskOut(BaseModel):
    id: str
    kind: str
    title: str
    status: StaffTaskStatus
    appointment_id: str | None
    call_id: str | None
    created_at: datetime
    resolved_at: datetime | None


class TaskDetail(TaskOut):
    detail: str


def _out(task: StaffTask) -> TaskOut:
    return TaskOut.model_validate(task, from_attributes=True)


TasksUser = Annotated[Principal, Depends(clinic_access(*roles.TASKS))]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/clinics/{clinic_id}/tasks", tags=["tasks"])

    @router.get("", response_model=list[TaskOut])
    async def list_tasks(
        clinic_id: str,
        services: Services,
        _: TasksUser,
        status: StaffTaskStatus | None = StaffTaskStatus.OPEN,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[TaskOut]:
        """Open tasks by default, oldest first (titles carry no patient details)."""
        query = select(StaffTask).where(StaffTask.clinic_id == clinic_id)
        if status is not None:
            query = query.where(StaffTask.status == status)
        query = query.order_by(col(StaffTask.created_at)).offset(offset).limit(limit)
        async with services.db.read() as session:
            return [_out(t) for t in await session.exec(query)]

    @router.get("/{task_id}", response_model=TaskDetail)
    async def task_detail(
        clinic_id: str, task_id: str, services: Services, principal: TasksUser
    ) -> TaskDetail:
        async with services.db.read() as session:
            task = await owned(session, StaffTask, task_id, clinic_id)
        await audit(services.db, principal, "read", "staff_task", task.id)
        return TaskDetail(**_out(task).model_dump(), detail=task.detail)

    @router.post("/{task_id}/resolve", response_model=TaskOut)
    async def resolve(
        clinic_id: str, task_id: str, services: Services, principal: TasksUser
    ) -> TaskOut:
        """Mark done (resolving twice is harmless)."""
        async with services.db.write() as session:
            task = await owned(session, StaffTask, task_id, clinic_id)
            if task.status != StaffTaskStatus.RESOLVED:
                task.status, task.resolved_at = StaffTaskStatus.RESOLVED, utcnow()
                session.add(task)
        await audit(services.db, principal, "update", "staff_task", task.id, {"change": "resolve"})
        return _out(task)

    return router
