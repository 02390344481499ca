"""Putting a clinic's calendar on the FHIR test server, as an EHR would publish it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from core.db import Database
from core.models import Clinic, Provider
from integrations.ehr.protocol import EhrBooking, EhrPatient
from tests.peers.fhir_server import FhirServer

# A Tuesday well ahead, so nothing in the tests is ever in the past.
DAY = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class FhirCalendar:
    """One practitioner with a Schedule on the server, and helpers to publish and book Slots."""

    def __init__(self, server: FhirServer, family: str = "Okafor") -> None:
        self.server = server
        self.practitioner_id = server.create(
            {"resourceType": "Practitioner", "name": [{"family": family, "given": ["Dana"]}]}
        )["id"]
        self.schedule_id = server.create(
            {
                "resourceType": "Schedule",
                "active": True,
                "actor": [{"reference": f"Practitioner/{self.practitioner_id}"}],
            }
        )["id"]

    def slot(self, start: datetime, minutes: int = 30, status: str = "free") -> dict[str, Any]:
        return self.server.create(
            {
                "resourceType": "Slot",
                "schedule": {"reference": f"Schedule/{self.schedule_id}"},
                "status": status,
                "start": iso(start),
                "end": iso(start + timedelta(minutes=minutes)),
            }
        )

    def slot_at(self, start: datetime) -> dict[str, Any]:
        found = [
            s
            for s in self.server.search("Slot", schedule=f"Schedule/{self.schedule_id}")
            if s["start"] == iso(start)
        ]
        assert len(found) == 1
        return found[0]

    def book_elsewhere(self, start: datetime, minutes: int = 30) -> dict[str, Any]:
        """The front desk books the time: Slot busy and an Appointment, behind our back."""
        slot = self.slot_at(start)
        self.server.update({**slot, "status": "busy"})
        return self.server.create(
            {
                "resourceType": "Appointment",
                "status": "booked",
                "start": iso(start),
                "end": iso(start + timedelta(minutes=minutes)),
                "slot": [{"reference": f"Slot/{slot['id']}"}],
                "participant": [
                    {
                        "actor": {"reference": f"Practitioner/{self.practitioner_id}"},
                        "status": "accepted",
                    }
                ],
            }
        )

    def booking(
        self,
        start: datetime,
        minutes: int = 30,
        *,
        key: str | None = None,
        patient: EhrPatient | None = None,
        appointment_id: str | None = None,
    ) -> EhrBooking:
        return EhrBooking(
            booking_key=key or f"booking-test-{uuid.uuid4().hex[:12]}/ehr",
            appointment_id=appointment_id or uuid.uuid4().hex,
            clinic_id="clinic-test",
            patient=patient or caller(),
            provider_id="provider-test",
            provider_external_id=self.practitioner_id,
            appointment_type_code="cleaning",
            starts_at=start,
            ends_at=start + timedelta(minutes=minutes),
        )


def caller(
    first: str = "Ana",
    last: str = "Rivera",
    dob: str = "1990-04-12",
    phone: str | None = "+15550100111",
    local_id: str | None = None,
) -> EhrPatient:
    return EhrPatient(
        local_id=local_id or uuid.uuid4().hex,
        first_name=first,
        last_name=last,
        date_of_birth=dob,
        phone=phone,
    )


async def connect_clinic(
    db: Database, clinic_id: str, server: FhirServer, **settings: Any
) -> dict[str, FhirCalendar]:
    """Give each provider of the clinic a Practitioner and Schedule on the server (mapped by
    ``external_ehr_id``) and make the server the clinic's EHR; returns calendars by provider id."""
    calendars: dict[str, FhirCalendar] = {}
    async with db.write() as session:
        providers = (
            await session.exec(select(Provider).where(Provider.clinic_id == clinic_id))
        ).all()
        for provider in providers:
            calendar = FhirCalendar(server, family=provider.key)
            provider.external_ehr_id = calendar.practitioner_id
            session.add(provider)
            calendars[provider.id] = calendar
        clinic = await session.get(Clinic, clinic_id)
        assert clinic is not None
        ehr = {"name": "fhir", "settings": {"base_url": server.base_url, **settings}}
        clinic.adapters = {**clinic.adapters, "ehr": ehr}
        session.add(clinic)
    return calendars
