"""The embedded EHR: the local schedule is the system of record.

Appointments already live in our database (the booking saga writes them), so "writing to the
EHR" assigns the record its external id, and reads come from the same rows.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from core.models import ACTIVE_APPOINTMENT_STATUSES, Appointment, AppointmentStatus
from core.scheduling import cancel_appointment
from integrations.ehr.protocol import EhrAppointment, EhrBooking
from integrations.errors import NotFoundError, SlotConflict
from integrations.registry import AdapterContext

_STATUS = {
    AppointmentStatus.PENDING: "booked",
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.FAILED: "cancelled",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.NO_SHOW: "noshow",
}


def _view(appointment: Appointment) -> EhrAppointment:
    return EhrAppointment(
        external_id=appointment.external_ehr_id or f"local-{appointment.id}",
        status=_STATUS[AppointmentStatus(appointment.status)],
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
    )


class LocalEhr:
    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        self._db = context.db

    async def _record(self, external_id: str) -> Appointment:
        async with self._db.read() as session:
            found = (
                await session.exec(
                    select(Appointment).where(Appointment.external_ehr_id == external_id)
                )
            ).first()
        if found is None:
            raise NotFoundError("the local schedule has no such appointment")
        return found

    async def book(self, booking: EhrBooking) -> EhrAppointment:
        async with self._db.write() as session:
            appointment = await session.get(Appointment, booking.appointment_id)
            if appointment is None:
                raise NotFoundError("the local schedule has no such appointment")
            if appointment.status not in ACTIVE_APPOINTMENT_STATUSES:
                # Cancelled or failed meanwhile: its time was given back and may be taken.
                raise SlotConflict("the appointment no longer holds its time")
            appointment.external_ehr_id = appointment.external_ehr_id or f"local-{appointment.id}"
            session.add(appointment)
            return _view(appointment)

    async def read(self, external_id: str) -> EhrAppointment:
        return _view(await self._record(external_id))

    async def reschedule(self, external_id: str, booking: EhrBooking) -> EhrAppointment:
        # Locally the new time is already its own appointment row; the old one is cancelled
        # by the saga once the new one is committed.
        await self._record(external_id)
        return await self.book(booking)

    async def cancel(self, external_id: str, reason: str) -> EhrAppointment:
        appointment = await self._record(external_id)
        async with self._db.write() as session:
            return _view(await cancel_appointment(session, appointment.id, reason))
