"""A worker SIGKILLed in the middle of a campaign: after a restart every target is contacted
exactly once (real dev server, a real worker process)."""

from __future__ import annotations

import os
import signal
import uuid
from collections import Counter

from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import OutboxMessage, OutreachTarget
from core.security.crypto import local_keyring_path
from core.settings import get_settings
from durable.campaigns import Campaigns, NewCampaign, RunOverrides
from stack.devserver import DevServer
from tests.campaigns.support import (
    ALWAYS_OPEN,
    add_recall_patients,
    configure_outreach,
    finished,
    outbox_count,
    wait_until,
)
from tests.integration.test_crash_recovery import _logged, worker_process
from tests.support.workers import running_worker


async def test_worker_killed_mid_campaign_contacts_every_target_once(
    db: Database, database_url: str, demo: SeedReport, temporal_client: Client,
    temporal_server: DevServer,
) -> None:  # fmt: skip
    await configure_outreach(db, demo.clinic_id)
    await add_recall_patients(db, demo.clinic_id, 60)
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    # The worker process reads encrypted columns: it shares this process's keyring directory.
    log = local_keyring_path(get_settings()).parent / f"campaign-crash-{prefix}log"
    worker = worker_process(database_url, temporal_server.address, prefix, log)
    try:
        await wait_until(lambda: _logged(log, "worker started"), timeout=180)
        campaigns = Campaigns(temporal_client, db, task_queue_prefix=prefix)
        campaign = await campaigns.create(
            NewCampaign(demo.clinic_id, "Crash", "hygiene_recall", window=10)
        )
        # A small history budget: the run continues as new several times, crash included.
        overrides = RunOverrides(
            window=ALWAYS_OPEN, reply_window_seconds=1, events_before_continue=100
        )
        await campaigns.start(demo.clinic_id, campaign.id, overrides)
        await wait_until(lambda: _sent(db, 10), timeout=240)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        at_kill = await outbox_count(db, purpose="recall")
    finally:
        if worker.poll() is None:
            worker.kill()
        log.unlink(missing_ok=True)
    async with db.read() as session:
        total = len((await session.exec(select(OutreachTarget))).all())
    assert at_kill < total, "the worker was not killed mid-campaign"

    async with running_worker(temporal_client, db, prefix=prefix):
        progress = await finished(campaigns, demo.clinic_id, campaign.id, timeout=240)
    assert progress.status == "completed"
    async with db.read() as session:
        messages = (
            await session.exec(select(OutboxMessage).where(OutboxMessage.purpose == "recall"))
        ).all()
        targets = (await session.exec(select(OutreachTarget))).all()
    runs = [
        w
        async for w in temporal_client.list_workflows(
            f"WorkflowType = 'CampaignRunWorkflow' AND TaskQueue = '{prefix}campaigns'"
        )
    ]
    assert len(runs) > 2, "the run never continued as new"
    per_patient = Counter(m.patient_id for m in messages)
    assert len(targets) == total == progress.sent
    assert set(per_patient) == {t.patient_id for t in targets}
    assert set(per_patient.values()) == {1}, "a target was contacted twice"


async def _sent(db: Database, n: int) -> bool:
    return await outbox_count(db, purpose="recall") >= n
