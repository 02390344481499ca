"""Appointments: list and filter them, cancel one through the durable cancel path (the same
workflow a caller's cancellation starts, so the EHR, the freed time and the SMS all follow)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlmodel import col, select

from adminapi import roles
from adminapi.auth import Principal, clinic_access
from adminapi.deps import Limit, Offset, Services, as_utc, owned
from adminapi.phi import audit
from core.models import Appointment, AppointmentStatus, AppointmentType, Patient, Provider
from core.temporal import TemporalUnavailable
from durable import ids
from durable.booking import Bookings
from workflows.contracts import CancelInput


class AppointmentOut(BaseModel):
    id: str
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus
    source: str
    provider_id: str
    provider_name: str
    appointment_type: str
    appointment_type_name: str
    patient_id: str
    patient_name: str
    cancel_reason: str | None
    created_at: datetime


class CancelRequest(BaseModel):
    reason: str = Field(default="cancelled by the clinic", min_length=1, max_length=200)


class CancelResult(BaseModel):
    status: str = Field(description="accepted | pending | done | rejected")
    workflow_id: str
    reason: str = ""


def _out(
    a: Appointment, provider: Provider, kind: AppointmentType, patient: Patient
) -> AppointmentOut:
    return AppointmentOut(
        id=a.id, starts_at=a.starts_at, ends_at=a.ends_at, status=a.status, source=a.source,
        provider_id=provider.id, provider_name=provider.name, appointment_type=kind.code,
        appointment_type_name=kind.name, patient_id=patient.id,
        patient_name=f"{patient.first_name} {patient.last_name}",
        cancel_reason=a.cancel_reason, created_at=a.created_at,
    )  # fmt: skip


AppointmentsUser = Annotated[Principal, Depends(clinic_access(*roles.APPOINTMENTS))]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/clinics/{clinic_id}/appointments", tags=["appointments"])

    @router.get("", response_model=list[AppointmentOut])
    async def list_appointments(
        clinic_id: str,
        services: Services,
        principal: AppointmentsUser,
        status_: Annotated[AppointmentStatus | None, Query(alias="status")] = None,
        provider_id: str | None = None,
        starts_from: Annotated[datetime | None, Query(alias="from")] = None,
        starts_before: Annotated[datetime | None, Query(alias="to")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[AppointmentOut]:
        """Appointments by start time, filtered by status, provider and start window."""
        query = (
            select(Appointment, Provider, AppointmentType, Patient)
            .join(Provider, col(Provider.id) == Appointment.provider_id)
            .join(AppointmentType, col(AppointmentType.id) == Appointment.appointment_type_id)
            .join(Patient, col(Patient.id) == Appointment.patient_id)
            .where(Appointment.clinic_id == clinic_id)
        )
        if status_ is not None:
            query = query.where(Appointment.status == status_)
        if provider_id is not None:
            query = query.where(Appointment.provider_id == provider_id)
        if starts_from is not None:
            query = query.where(Appointment.starts_at >= as_utc(starts_from))
        if starts_before is not None:
            query = query.where(Appointment.starts_at < as_utc(starts_before))
        query = query.order_by(col(Appointment.starts_at)).offset(offset).limit(limit)
        async with services.db.read() as session:
            rows = [_out(*row) for row in await session.exec(query)]
        await audit(services.db, principal, "read", "appointment", [r.id for r in rows])
        return rows

    @router.post(
        "/{appointment_id}/cancel",
        response_model=CancelResult,
        responses={503: {"description": "the workflow engine is unreachable"}},
    )
    async def cancel(
        clinic_id: str,
        appointment_id: str,
        body: CancelRequest,
        services: Services,
        principal: AppointmentsUser,
    ) -> CancelResult:
        """Cancel through the durable cancel workflow: the EHR is told before the time is
        freed, and the patient gets an SMS."""
        async with services.db.read() as session:
            appointment = await owned(session, Appointment, appointment_id, clinic_id)
        if appointment.status not in (AppointmentStatus.PENDING, AppointmentStatus.BOOKED):
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"the appointment is {appointment.status}"
            )
        try:
            client = await services.temporal()
        except TemporalUnavailable:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "the workflow engine is unreachable"
            ) from None
        bookings = Bookings(
            client, services.db, task_queue_prefix=services.settings.task_queue_prefix
        )
        outcome, _, reason = await bookings.cancel(
            CancelInput(clinic_id=clinic_id, appointment_id=appointment_id, reason=body.reason)
        )
        await audit(
            services.db, principal, "update", "appointment", appointment_id,
            {"change": "cancel", "outcome": outcome},
        )  # fmt: skip
        return CancelResult(
            status=outcome, workflow_id=ids.cancellation(clinic_id, appointment_id), reason=reason
        )

    return router
