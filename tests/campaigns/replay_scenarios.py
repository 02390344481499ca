"""Outreach scenarios for ``tests.replay.record_histories`` (group ``outreach``): a campaign run
with its children, and an appointment's reminders (one sent, then cancelled)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from core.db import Database
from core.models import Appointment, AppointmentStatus, Campaign, OutreachTarget
from durable.reminders import ReminderOverrides, Reminders
from tests.campaigns.support import ALWAYS_OPEN, add_recall_patients, configure_outreach
from workflows import queues
from workflows.campaigns import CampaignRunWorkflow, outreach_id
from workflows.outreach_types import CampaignRunInput, ReminderOffset


async def drive_outreach(rec: Any, db: Database, clinic_id: str, prefix: str) -> None:
    await configure_outreach(db, clinic_id, max_per_day=10, max_per_week=10)
    [patient] = await add_recall_patients(db, clinic_id, 1, first_phone=2075569900)
    campaign = Campaign(clinic_id=clinic_id, name="replay", audience="hygiene_recall",
                        channel="sms", template="{clinic_name}: hi {first_name}, time to book.",
                        window=2)  # fmt: skip
    async with db.write() as session:
        session.add(campaign)
    handle = await rec.client.start_workflow(
        CampaignRunWorkflow.run,
        CampaignRunInput(campaign.id, window=ALWAYS_OPEN, reply_window_seconds=1),
        id="replay-campaign-run",
        task_queue=queues.named(prefix, queues.CAMPAIGNS),
    )
    finished = await rec.save("campaign_run_completed", handle.id)
    if finished["status"] != "completed":
        raise RuntimeError(f"campaign run: {finished}")
    async with db.read() as session:
        target = (
            await session.exec(select(OutreachTarget).where(OutreachTarget.patient_id == patient))
        ).one()
    await rec.save("outreach_sms_contacted", outreach_id(target.id))

    async with db.read() as session:
        model = (await session.exec(select(Appointment))).first()
    assert model is not None
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
    visit = Appointment(
        clinic_id=clinic_id, patient_id=patient, provider_id=model.provider_id,
        appointment_type_id=model.appointment_type_id, starts_at=starts,
        ends_at=starts + timedelta(minutes=30), status=AppointmentStatus.BOOKED,
    )  # fmt: skip
    async with db.write() as session:
        session.add(visit)
    reminders = Reminders(rec.client, db, task_queue_prefix=prefix)
    workflow_id = await reminders.arm(
        visit.id, ReminderOverrides([ReminderOffset(6), ReminderOffset(1)], ALWAYS_OPEN)
    )
    await asyncio.sleep(4)  # the first reminder goes out
    await reminders.cancelled(visit.id)
    await rec.save("reminder_sent_then_cancelled", workflow_id)
