"""The clinic as an agent sees it, loaded once per call from the database."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import select

from core.db import Database
from core.models import AppointmentType, AppointmentTypeProvider, Clinic, Provider
from core.scheduling import NotFound
from realtime.agent.protocol import AppointmentTypeInfo, ClinicProfile, ProviderInfo


async def load_clinic_profile(db: Database, clinic_id: str) -> ClinicProfile:
    async with db.read() as session:
        clinic = await session.get(Clinic, clinic_id)
        if clinic is None:
            raise NotFound("unknown clinic")
        providers = (
            await session.exec(
                select(Provider).where(Provider.clinic_id == clinic_id, Provider.active == True)  # noqa: E712
            )
        ).all()
        kinds = (
            await session.exec(
                select(AppointmentType).where(
                    AppointmentType.clinic_id == clinic_id,
                    AppointmentType.active == True,  # noqa: E712
                )
            )
        ).all()
        links = (await session.exec(select(AppointmentTypeProvider))).all()
    offered_by: dict[str, list[str]] = defaultdict(list)
    for link in links:
        offered_by[link.appointment_type_id].append(link.provider_id)
    return ClinicProfile(
        clinic_id=clinic.id,
        name=clinic.name,
        agent_name=clinic.agent_name,
        greeting=clinic.greeting,
        time_zone=clinic.time_zone,
        address=clinic.address,
        business_hours=clinic.business_hours,
        faq=clinic.faq,
        accepted_insurance=tuple(clinic.accepted_insurance),
        providers=tuple(
            ProviderInfo(p.id, p.name) for p in sorted(providers, key=lambda p: p.name)
        ),
        appointment_types=tuple(
            AppointmentTypeInfo(
                code=k.code,
                name=k.name,
                duration_minutes=k.duration_minutes,
                new_patients_only=k.new_patients_only,
                synonyms=tuple(k.synonyms),
                provider_ids=tuple(offered_by[k.id]),
            )
            for k in kinds
        ),
        emergency_instructions=clinic.emergency_instructions,
        transfer_number=clinic.transfer_number,
        specialty=clinic.specialty,
    )
