"""Insurance eligibility: bounded answers in the call, full results kept, unverified → staff."""

import asyncio
import uuid
from datetime import timedelta

from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Appointment, EligibilityCheck, StaffTask
from durable import ids
from durable.booking import BookingRequest, Bookings
from durable.calls import CallEvents
from integrations.registry import AdapterRegistry
from tests.fakes.adapters import SlowEligibility
from tests.support.booking import free_slots, seeded_patient, use_adapter
from tests.support.workers import running_worker
from workflows.contracts import EligibilityInput, EligibilityOutcome


def check_for(demo: SeedReport, patient, payer: str, member_id: str) -> EligibilityInput:
    return EligibilityInput(
        clinic_id=demo.clinic_id,
        request_id=uuid.uuid4().hex[:12],
        payer=payer,
        member_id=member_id,
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth,
        patient_id=patient.id,
    )


async def checks(db: Database) -> list[EligibilityCheck]:
    async with db.read() as session:
        return list((await session.exec(select(EligibilityCheck))).all())


async def tasks(db: Database, kind: str) -> list[StaffTask]:
    async with db.read() as session:
        return list((await session.exec(select(StaffTask).where(StaffTask.kind == kind))).all())


async def test_active_inactive_and_unknown_members(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    rivera = await seeded_patient(db, "Rivera")
    fischer = await seeded_patient(db, "Fischer")
    async with running_worker(temporal_client, db) as prefix:
        events = CallEvents(temporal_client, task_queue_prefix=prefix)
        active = await events.verify_insurance(
            check_for(demo, rivera, "delta dental", "dd100200301")
        )
        inactive = await events.verify_insurance(check_for(demo, fischer, "Guardian", "GU8812003"))
        unknown = await events.verify_insurance(check_for(demo, rivera, "Cigna", "CG00000000"))
    assert active == EligibilityOutcome("active", "Delta Dental", "Delta Dental PPO")
    assert inactive is not None and inactive.status == "inactive"
    assert (
        unknown is not None
        and unknown.status == "unverified"
        and unknown.reason == "member_not_found"
    )
    assert sorted(c.status for c in await checks(db)) == ["active", "inactive", "unverified"]
    [task] = await tasks(db, "verify_insurance")
    assert "Cigna" in task.title and "CG00000000" not in task.title


async def test_slow_payer_gets_bounded_answer_and_result_lands_on_the_appointment(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    payer = SlowEligibility(delay=3.0)
    registry = AdapterRegistry()
    registry.register("eligibility", "slow", payer.factory())
    await use_adapter(db, demo.clinic_id, "eligibility", "slow")
    patient = await seeded_patient(db, "Kim")
    [slot] = await free_slots(db, demo.clinic_id)
    async with running_worker(temporal_client, db, registry) as prefix:
        events = CallEvents(temporal_client, task_queue_prefix=prefix)
        request = check_for(demo, patient, "Cigna", "CG55501234")
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await events.verify_insurance(request, answer_within=timedelta(seconds=1))
        assert answer is None  # "staff will confirm": the caller was not kept waiting
        assert loop.time() - started < 2.0
        bookings = Bookings(temporal_client, db, task_queue_prefix=prefix)
        decision = await bookings.book(
            BookingRequest(
                demo.clinic_id,
                uuid.uuid4().hex[:12],
                slot.provider_id,
                "cleaning",
                slot.starts_at,
                patient_id=patient.id,
            ),
            answer_within=timedelta(seconds=10),
        )
        final = await temporal_client.get_workflow_handle(
            ids.eligibility(demo.clinic_id, request.request_id), result_type=EligibilityOutcome
        ).result()
    assert final.status == "active" and final.plan_name == "Slow Plan PPO"
    async with db.read() as session:
        booked = await session.get(Appointment, decision.accepted.appointment_id)
    assert booked.eligibility == {
        "status": "active",
        "payer": "Cigna",
        "plan_name": "Slow Plan PPO",
    }
    assert await tasks(db, "verify_insurance") == []
