"""The embedded EHR (the local schedule) passes the EHR conformance suite on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from core.db import Database
from core.demo.seed import SeedReport
from core.models import ACTIVE_APPOINTMENT_STATUSES, Appointment, Provider
from core.scheduling import cancel_appointment
from core.scheduling.external import ExternalAppointment, apply_external_appointment
from core.settings import Settings
from integrations.ehr.conformance import (
    AppointmentCounter,
    BookingFactory,
    EhrConformance,
    SlotTaker,
)
from integrations.ehr.local import LocalEhr
from integrations.ehr.protocol import EhrAdapter, EhrBooking
from integrations.registry import AdapterContext
from tests.integrations.ehr_support import PendingBookings


class LocalSchedule(EhrConformance):
    """The suite's fixtures for the local schedule (reused by adapters built on it)."""

    @pytest.fixture
    async def ehr(self, db: Database, demo: SeedReport) -> EhrAdapter:
        return LocalEhr({}, AdapterContext(db=db, settings=Settings()))

    @pytest.fixture
    def make_booking(self, db: Database, demo: SeedReport) -> BookingFactory:
        return PendingBookings(db, demo.clinic_id)

    @pytest.fixture
    def take_slot(self, db: Database, demo: SeedReport) -> SlotTaker:
        async def take(booking: EhrBooking) -> None:
            # Staff cancel the pending appointment and the front desk books its time at once.
            async with db.write() as session:
                await cancel_appointment(session, booking.appointment_id, "staff")
                provider = await session.get(Provider, booking.provider_id)
            assert provider is not None
            await apply_external_appointment(
                db,
                demo.clinic_id,
                ExternalAppointment(
                    external_id=f"desk-{booking.appointment_id}",
                    source="frontdesk",
                    provider_ref=provider.key,
                    starts_at=booking.starts_at,
                    ends_at=booking.ends_at,
                ),
            )

        return take

    @pytest.fixture
    def count_appointments(self, db: Database) -> AppointmentCounter:
        async def count(booking: EhrBooking) -> int:
            async with db.read() as session:
                return (
                    await session.exec(
                        select(func.count())
                        .select_from(Appointment)
                        .where(
                            Appointment.idempotency_key == booking.booking_key,
                            col(Appointment.status).in_(ACTIVE_APPOINTMENT_STATUSES),
                            col(Appointment.external_ehr_id).is_not(None),
                        )
                    )
                ).one()

        return count


class TestLocalConformance(LocalSchedule):
    pass
