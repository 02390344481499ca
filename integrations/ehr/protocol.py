"""The EHR adapter protocol: how a booking reaches the clinic's system of record.

Implementations: ``local`` (the embedded schedule is the record), FHIR R4 and HL7 v2 (their own
modules). Every write carries ``booking_key``, stable across activity retries, so a retried call
can never create a second appointment in the EHR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from core.scheduling.external import ExternalAppointment


@dataclass(frozen=True)
class EhrPatient:
    local_id: str
    first_name: str
    last_name: str
    date_of_birth: str  # ISO date
    phone: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class EhrBooking:
    booking_key: str
    appointment_id: str
    clinic_id: str
    patient: EhrPatient
    provider_id: str
    provider_external_id: str | None
    appointment_type_code: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class EhrAppointment:
    external_id: str
    status: str  # "booked" | "cancelled" | "noshow" | "fulfilled" | "pending"
    starts_at: datetime
    ends_at: datetime


class EhrAdapter(Protocol):
    """A clinic's EHR or practice-management system.

    Raise ``SlotConflict`` when the EHR already gave the time away, ``PermanentError`` for
    refusals a retry cannot fix, and ``TransientError`` (or let network errors escape) otherwise.
    """

    async def book(self, booking: EhrBooking) -> EhrAppointment:
        """Create the appointment; idempotent on ``booking.booking_key``."""
        ...

    async def read(self, external_id: str) -> EhrAppointment:
        """Read an appointment back (the booking saga confirms what the EHR stored)."""
        ...

    async def reschedule(self, external_id: str, booking: EhrBooking) -> EhrAppointment:
        """Move an appointment to ``booking``'s time; returns the appointment as now stored."""
        ...

    async def cancel(self, external_id: str, reason: str) -> EhrAppointment:
        """Cancel; cancelling an already-cancelled appointment succeeds."""
        ...


@runtime_checkable
class ScheduleSource(Protocol):
    """Optional second face of an EHR adapter: its schedule can be pulled.

    Adapters that implement it get a Temporal Schedule per clinic (workflows/ehr_sync.py) that
    applies what they return through ``core.scheduling.external`` every ``sync_interval``, so
    time booked at the front desk disappears from the receptionist's (local) availability.
    """

    source: str  # ``ExternalAppointment.source`` of what it returns, e.g. "fhir"
    sync_interval: timedelta
    sync_horizon: timedelta  # how far ahead of now to pull

    async def pull_schedule(
        self, provider_refs: Sequence[str], start: datetime, end: datetime
    ) -> list[ExternalAppointment]:
        """Everything occupying or released in [start, end) for these providers (their
        ``Provider.external_ehr_id``): booked, cancelled and no-show appointments, and time
        blocked without an appointment (busy Slots), as the EHR has it now."""
        ...
