"""The run's sliding window bounds the contacting, not the wait for replies: a child frees its
slot once its text is sent, then waits for the reply by itself; a cancel still stops the
follow-up calls of children already waiting."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select
from temporalio.client import Client, WorkflowExecutionStatus

from core.db import Database
from core.demo.seed import SeedReport
from core.models import OutreachAttempt, OutreachTarget
from durable.campaigns import Campaigns, NewCampaign, RunOverrides
from tests.campaigns.support import (
    ALWAYS_OPEN,
    add_recall_patients,
    configure_outreach,
    finished,
    outbox_count,
    wait_until,
)
from tests.support.workers import running_worker
from workflows.campaigns import outreach_id
from workflows.outreach import PatientOutreachWorkflow
from workflows.outreach_types import OutreachOutcome, Reply

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _targets(db: Database, campaign_id: str) -> list[OutreachTarget]:
    async with db.read() as session:
        return list(
            (
                await session.exec(
                    select(OutreachTarget).where(OutreachTarget.campaign_id == campaign_id)
                )
            ).all()
        )


async def test_window_of_two_contacts_everyone_while_children_wait_for_replies(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    await configure_outreach(db, demo.clinic_id)
    await add_recall_patients(db, demo.clinic_id, 6)
    # Ten minutes to reply: with the slots held until the reply window ended, two in flight
    # would take over half an hour.
    long_wait = RunOverrides(window=ALWAYS_OPEN, reply_window_seconds=600)
    async with running_worker(temporal_client, db) as prefix:
        campaigns = Campaigns(temporal_client, db, task_queue_prefix=prefix)
        campaign = await campaigns.create(
            NewCampaign(demo.clinic_id, "Windowed", "hygiene_recall", window=2)
        )
        await campaigns.start(demo.clinic_id, campaign.id, long_wait)
        progress = await finished(campaigns, demo.clinic_id, campaign.id, timeout=60)
        assert progress.status == "completed"
        assert progress.targets >= 6
        assert progress.sent == progress.targets == await outbox_count(db, purpose="recall")
        assert progress.pending == 0
        targets = await _targets(db, campaign.id)
        assert {t.status for t in targets} == {"contacted"}

        # Every child outlives the run, waiting for its patient's reply.
        handles = [temporal_client.get_workflow_handle(outreach_id(t.id)) for t in targets]
        for handle in handles:
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            assert await handle.query(PatientOutreachWorkflow.status) == "waiting for a reply"

        # A C long after the window moved on still confirms.
        first = targets[0]
        await handles[0].signal(PatientOutreachWorkflow.reply, Reply("confirm", "SM" + "3" * 32))
        outcome = await temporal_client.get_workflow_handle(
            outreach_id(first.id), result_type=OutreachOutcome
        ).result()
        assert outcome.status == "confirmed"
        async with db.read() as session:
            stored = await session.get(OutreachTarget, first.id)
        assert stored is not None and stored.status == "confirmed"
        assert await outbox_count(db, purpose="recall_reply") == 1

        # The others are still waiting; stopping them still works.
        for handle in handles[1:]:
            await handle.signal(PatientOutreachWorkflow.stop, "test_over")
        await asyncio.gather(*(h.result() for h in handles[1:]))


async def test_cancel_skips_the_follow_up_calls_of_children_waiting_for_a_reply(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    await configure_outreach(db, demo.clinic_id)
    await add_recall_patients(db, demo.clinic_id, 30)
    # Texted children wait 5 s for a reply, then call: the cancel comes before that.
    overrides = RunOverrides(window=ALWAYS_OPEN, reply_window_seconds=5)
    async with running_worker(temporal_client, db) as prefix:
        campaigns = Campaigns(temporal_client, db, task_queue_prefix=prefix)
        campaign = await campaigns.create(
            NewCampaign(
                demo.clinic_id, "Text then call", "hygiene_recall", window=2,
                channel="sms_then_voice",
            )
        )  # fmt: skip
        await campaigns.start(demo.clinic_id, campaign.id, overrides)
        await wait_until(lambda: _texted_at_least(db, 3), every=0.05)
        await campaigns.cancel(demo.clinic_id, campaign.id)
        progress = await finished(campaigns, demo.clinic_id, campaign.id)
        assert progress.status == "cancelled"
        texted = await outbox_count(db, purpose="recall")
        assert 3 <= texted < progress.targets

        async def settled() -> bool:
            return not {"pending", "contacted"} & {
                t.status for t in await _targets(db, campaign.id)
            }

        # Every child, stopped while contacting or skipping its call once its wait is over.
        await wait_until(settled, timeout=60)
    async with db.read() as session:
        calls = (
            await session.exec(
                select(OutreachAttempt).where(
                    OutreachAttempt.campaign_id == campaign.id, OutreachAttempt.channel == "voice"
                )
            )
        ).all()
    assert calls, "the texted children reached their follow-up call"
    assert {(a.status, a.reason) for a in calls} == {("skipped", "campaign_cancelled")}
    assert await outbox_count(db, channel="voice") == 0


async def _texted_at_least(db: Database, n: int) -> bool:
    return await outbox_count(db, purpose="recall") >= n
