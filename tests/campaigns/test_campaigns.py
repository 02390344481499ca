"""Recall campaigns on the real dev server: fan-out, progress, template failures, pause."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import Campaign, OutreachAttempt, OutreachTarget, Patient
from durable.campaigns import CampaignError, Campaigns, NewCampaign, RunOverrides, schedule_id
from tests.campaigns.support import (
    ALWAYS_OPEN,
    add_recall_patients,
    configure_outreach,
    finished,
    outbox_count,
    wait_until,
)
from tests.support.workers import running_worker
from workflows.campaigns import CampaignRunWorkflow
from workflows.outreach_types import CampaignRunInput

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
FAST = RunOverrides(window=ALWAYS_OPEN, reply_window_seconds=1)


async def test_campaign_texts_every_target_once_and_reports_progress(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    await configure_outreach(db, demo.clinic_id)
    async with running_worker(temporal_client, db) as prefix:
        campaigns = Campaigns(temporal_client, db, task_queue_prefix=prefix)
        campaign = await campaigns.create(
            NewCampaign(demo.clinic_id, "Spring recall", "hygiene_recall", window=5)
        )
        # The demo's own patients whose visits are long past are due too.
        due_before = {
            r.patient_id for r in (await campaigns.preview(demo.clinic_id, campaign.id)).rows
        }
        patients = set(await add_recall_patients(db, demo.clinic_id, 12)) | due_before
        preview = await campaigns.preview(demo.clinic_id, campaign.id)
        assert preview.total == len(patients) == preview.will_contact
        assert {r.patient_id for r in preview.rows} == patients
        assert all(r.reason.startswith("hygiene recall due") for r in preview.rows)
        assert preview.sample_message and "Reply STOP to opt out" in preview.sample_message
        assert await outbox_count(db, purpose="recall") == 0, "a preview sends nothing"
        await campaigns.start(demo.clinic_id, campaign.id, FAST)
        progress = await finished(campaigns, demo.clinic_id, campaign.id)
    assert progress.status == "completed"
    total = len(patients)
    assert (progress.targets, progress.sent, progress.pending) == (total, total, 0)
    assert await outbox_count(db, purpose="recall") == total
    async with db.read() as session:
        recipients = {
            a.patient_id
            for a in (await session.exec(select(OutreachAttempt).where(
                OutreachAttempt.campaign_id == campaign.id, OutreachAttempt.status == "sent"
            ))).all()
        }  # fmt: skip
    assert recipients == patients


async def test_template_that_fails_is_refused_before_anything_is_sent(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    await configure_outreach(db, demo.clinic_id)
    nameless = (await add_recall_patients(db, demo.clinic_id, 3))[1]
    async with running_worker(temporal_client, db) as prefix:
        campaigns = Campaigns(temporal_client, db, task_queue_prefix=prefix)
        # Refused when created: an unknown placeholder, or one these targets cannot fill.
        with pytest.raises(CampaignError, match=r"unknown placeholder \{last_visit\}"):
            await campaigns.create(NewCampaign(demo.clinic_id, "x", "hygiene_recall",
                                               template="Hi {first_name}, last seen {last_visit}"))  # fmt: skip
        with pytest.raises(CampaignError, match="needs an appointment"):
            await campaigns.create(NewCampaign(demo.clinic_id, "x", "hygiene_recall",
                                               template="See you {appointment_time}"))  # fmt: skip
        # A template that fails for one target only (no first name on file) is found when
        # it is rendered for every target: starting is refused.
        campaign = await campaigns.create(
            NewCampaign(demo.clinic_id, "Names", "hygiene_recall", template="Hi {first_name}!")
        )
        async with db.write() as session:
            patient = await session.get(Patient, nameless)
            assert patient is not None
            patient.first_name = ""
            session.add(patient)
        with pytest.raises(CampaignError, match=r"target \d+\): no value for \{first_name\}"):
            await campaigns.start(demo.clinic_id, campaign.id, FAST)
        # The run checks again before its first message (data can change after a start).
        handle = await temporal_client.start_workflow(
            CampaignRunWorkflow.run, CampaignRunInput(campaign.id, window=ALWAYS_OPEN),
            id=f"{schedule_id(campaign.id)}-direct", task_queue=f"{prefix}campaigns",
        )  # fmt: skip
        result = await handle.result()
    assert result.status == "failed"
    assert result.error and "no value for {first_name}" in result.error
    assert await outbox_count(db, purpose="recall") == 0
    async with db.read() as session:
        stored = await session.get(Campaign, campaign.id)
        targets = (await session.exec(select(OutreachTarget))).all()
    assert stored is not None and stored.status == "failed"
    assert stored.error and "first_name" in stored.error
    assert targets == []


async def test_pause_stops_new_contacts_and_resume_finishes(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    await configure_outreach(db, demo.clinic_id)
    await add_recall_patients(db, demo.clinic_id, 20)
    # Two contacting at once: each freed slot costs a round of workflow tasks before the next
    # text, so twenty targets take long enough for the pause to land mid-run.
    slow = RunOverrides(window=ALWAYS_OPEN, reply_window_seconds=2)
    async with running_worker(temporal_client, db) as prefix:
        campaigns = Campaigns(temporal_client, db, task_queue_prefix=prefix)
        campaign = await campaigns.create(
            NewCampaign(demo.clinic_id, "Paced", "hygiene_recall", window=2)
        )
        await campaigns.start(demo.clinic_id, campaign.id, slow)
        await wait_until(lambda: _sent_at_least(db, 2))
        await campaigns.pause(demo.clinic_id, campaign.id)
        await asyncio.sleep(3)  # the children contacting when it paused finish their text
        paused_at = await outbox_count(db, purpose="recall")
        await asyncio.sleep(4)  # nothing new while paused
        assert await outbox_count(db, purpose="recall") == paused_at
        progress = await campaigns.progress(demo.clinic_id, campaign.id)
        assert progress.status == "paused" and paused_at < progress.targets
        await campaigns.resume(demo.clinic_id, campaign.id)
        progress = await finished(campaigns, demo.clinic_id, campaign.id)
    assert progress.status == "completed"
    assert progress.sent == progress.targets == await outbox_count(db, purpose="recall")


async def _sent_at_least(db: Database, n: int) -> bool:
    return await outbox_count(db, purpose="recall") >= n
