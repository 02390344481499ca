"""The send rules inside a running campaign: quiet hours defer (never drop), caps hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import AttemptStatus, OutreachAttempt
from durable.campaigns import Campaigns, NewCampaign, RunOverrides
from tests.campaigns.support import (
    ALWAYS_OPEN,
    add_recall_patients,
    configure_outreach,
    finished,
    wait_until,
)
from tests.support.workers import running_worker
from workflows.outreach_types import Window

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def window_opening_in(seconds: int) -> tuple[Window, datetime]:
    """A send window that opens ``seconds`` from now, in a zone where it is about noon (so it
    never wraps past midnight)."""
    now = datetime.now(UTC)
    shift = 12 - now.hour  # local = UTC + shift
    zone = f"Etc/GMT{-shift:+d}" if shift else "UTC"  # Etc/ zones count the other way
    local_open = now + timedelta(hours=shift, seconds=seconds)
    until = local_open + timedelta(hours=1)
    return Window(f"{local_open:%H:%M:%S}", f"{until:%H:%M:%S}", zone), now + timedelta(
        seconds=seconds
    )


async def _attempts(db: Database, campaign_id: str) -> list[OutreachAttempt]:
    async with db.read() as session:
        return list(
            (
                await session.exec(
                    select(OutreachAttempt)
                    .where(OutreachAttempt.campaign_id == campaign_id)
                    .order_by(col(OutreachAttempt.created_at))
                )
            ).all()
        )


async def test_quiet_hours_defer_every_message_and_drop_none(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    await configure_outreach(db, demo.clinic_id)
    await add_recall_patients(db, demo.clinic_id, 5)
    window, opens_at = window_opening_in(8)
    async with running_worker(temporal_client, db) as prefix:
        campaigns = Campaigns(temporal_client, db, task_queue_prefix=prefix)
        campaign = await campaigns.create(NewCampaign(demo.clinic_id, "Quiet", "hygiene_recall"))
        await campaigns.start(
            demo.clinic_id, campaign.id, RunOverrides(window=window, reply_window_seconds=1)
        )
        progress = await finished(campaigns, demo.clinic_id, campaign.id)
    attempts = await _attempts(db, campaign.id)
    deferred = [a for a in attempts if a.status == AttemptStatus.DEFERRED]
    sent = [a for a in attempts if a.status == AttemptStatus.SENT]
    assert progress.sent == progress.targets == len(sent) > 5
    assert {a.target_id for a in deferred} == {a.target_id for a in sent}
    assert {a.reason for a in deferred} == {"quiet_hours"}
    assert min(a.created_at for a in sent) >= opens_at.replace(microsecond=0)


async def test_daily_cap_defers_and_weekly_cap_skips(
    db: Database, demo: SeedReport, temporal_client: Client
) -> None:
    await configure_outreach(db, demo.clinic_id)  # at most 1 a day, 3 a week
    texted_today, texted_thrice, fresh = await add_recall_patients(db, demo.clinic_id, 3)
    now = datetime.now(UTC)
    earlier = [(texted_today, now - timedelta(hours=2))] + [
        (texted_thrice, now - timedelta(days=d)) for d in (2, 3, 4)
    ]
    async with db.write() as session:
        for n, (patient_id, at) in enumerate(earlier):
            session.add(
                OutreachAttempt(
                    clinic_id=demo.clinic_id, patient_id=patient_id, kind="reminder",
                    channel="sms", status=AttemptStatus.SENT, workflow_id="earlier",
                    idempotency_key=f"earlier-{n}", created_at=at,
                )
            )  # fmt: skip
    async with running_worker(temporal_client, db) as prefix:
        campaigns = Campaigns(temporal_client, db, task_queue_prefix=prefix)
        campaign = await campaigns.create(NewCampaign(demo.clinic_id, "Caps", "hygiene_recall"))
        await campaigns.start(
            demo.clinic_id, campaign.id, RunOverrides(window=ALWAYS_OPEN, reply_window_seconds=1)
        )

        async def settled() -> bool:
            by = {(a.patient_id, a.status, a.reason) for a in await _attempts(db, campaign.id)}
            return {
                (texted_today, AttemptStatus.DEFERRED, "daily_cap"),
                (texted_thrice, AttemptStatus.SKIPPED, "weekly_cap"),
                (fresh, AttemptStatus.SENT, None),
            } <= by

        await wait_until(settled)
        await campaigns.cancel(demo.clinic_id, campaign.id)  # the deferred one waits a day
        progress = await finished(campaigns, demo.clinic_id, campaign.id)
    assert progress.status == "cancelled"
    assert progress.skipped.get("weekly_cap") == 1
    sent_to = {a.patient_id for a in await _attempts(db, campaign.id) if a.status == "sent"}
    assert texted_today not in sent_to and texted_thrice not in sent_to and fresh in sent_to
