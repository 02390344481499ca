"""The inbound SMS webhook against the real API: signatures, STOP honoured everywhere at once,
C confirms, delivery callbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.models import (
    Appointment,
    AppointmentStatus,
    InboundReply,
    OptOut,
    OutreachAttempt,
    OutreachTarget,
    Patient,
)
from durable.campaigns import Campaigns, NewCampaign, RunOverrides
from durable.reminders import ReminderOverrides, Reminders
from stack.devserver import DevServer
from tests.campaigns.support import (
    ALWAYS_OPEN,
    CLINIC_NUMBER,
    add_recall_patients,
    configure_outreach,
    finished,
    post_signed,
    sms_to,
    wait_until,
)
from tests.support.voice import AUTH_TOKEN, serve_voice
from tests.support.workers import running_worker
from workflows.outreach_types import ReminderOffset, ReminderState

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
LONG_WAIT = RunOverrides(window=ALWAYS_OPEN, reply_window_seconds=600)


def inbound(sid: str, sender: str, body: str) -> dict[str, str]:
    return {"MessageSid": sid, "From": sender, "To": CLINIC_NUMBER, "Body": body,
            "AccountSid": "AC" + "0" * 32}  # fmt: skip


async def _target(db: Database, patient_id: str) -> OutreachTarget:
    async with db.read() as session:
        return (
            await session.exec(
                select(OutreachTarget).where(OutreachTarget.patient_id == patient_id)
            )
        ).one()


async def test_stop_mid_campaign_stops_everything_for_that_number_and_c_confirms(
    db: Database, database_url: str, demo: SeedReport, temporal_client: Client,
    temporal_server: DevServer, tmp_path: Path,
) -> None:  # fmt: skip
    await configure_outreach(db, demo.clinic_id, max_per_day=10, max_per_week=10)
    stopper, confirmer, other = await add_recall_patients(db, demo.clinic_id, 3)
    async with db.read() as session:
        phones = {p.id: p.phone for p in (await session.exec(select(Patient))).all()}
    async with (
        running_worker(temporal_client, db) as prefix,
        serve_voice(database_url, temporal_server.address, prefix, tmp_path) as api,
    ):
        campaigns = Campaigns(temporal_client, db, task_queue_prefix=prefix)
        campaign = await campaigns.create(NewCampaign(demo.clinic_id, "Recall", "hygiene_recall"))
        await campaigns.start(demo.clinic_id, campaign.id, LONG_WAIT)
        await wait_until(lambda: _all_contacted(db, [stopper, confirmer, other]))

        # The stopper also has a visit whose reminder is still to come.
        async with db.read() as session:
            template = (await session.exec(select(Appointment))).first()
        assert template is not None
        soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
        visit = Appointment(
            clinic_id=demo.clinic_id, patient_id=stopper, provider_id=template.provider_id,
            appointment_type_id=template.appointment_type_id, starts_at=soon,
            ends_at=soon + timedelta(minutes=30), status=AppointmentStatus.BOOKED,
        )  # fmt: skip
        async with db.write() as session:
            session.add(visit)
        reminders = Reminders(temporal_client, db, task_queue_prefix=prefix)
        reminder = await reminders.arm(
            visit.id, ReminderOverrides([ReminderOffset(14)], ALWAYS_OPEN)
        )

        # A forged STOP changes nothing.
        forged = await post_signed(api.base_url, AUTH_TOKEN, "/twilio/sms",
                                   inbound("SM" + "f" * 32, phones[stopper] or "", "STOP"),
                                   signature="forged")  # fmt: skip
        assert forged.status_code == 403
        async with db.read() as session:
            assert (await session.exec(select(OptOut))).first() is None
            assert (await session.exec(select(InboundReply))).first() is None

        stop = inbound("SM" + "1" * 32, phones[stopper] or "", "Stop")
        assert (await post_signed(api.base_url, AUTH_TOKEN, "/twilio/sms", stop)).status_code == 200
        # Recorded at once, before any workflow ran: the opt-out and the patient's flag.
        async with db.read() as session:
            assert (await session.exec(select(OptOut))).one().keyword == "STOP"
            patient = await session.get(Patient, stopper)
            assert patient is not None and patient.sms_opt_out
        # Twilio retries the webhook: the duplicate is harmless.
        assert (await post_signed(api.base_url, AUTH_TOKEN, "/twilio/sms", stop)).status_code == 200

        confirm = inbound("SM" + "2" * 32, phones[confirmer] or "", "c")
        assert (
            await post_signed(api.base_url, AUTH_TOKEN, "/twilio/sms", confirm)
        ).status_code == 200
        await wait_until(lambda: _status(db, stopper, "opted_out"))
        await wait_until(lambda: _status(db, confirmer, "confirmed"))
        assert (await _target(db, other)).status == "contacted"  # still waiting for a reply

        # The reminder's time comes: it is skipped for the opt-out, never sent.
        final = await temporal_client.get_workflow_handle(
            reminder, result_type=ReminderState
        ).result()
        assert final.cancelled is False

        # Delivery callbacks update the attempt (the answer to "C" is an attempt of its own).
        async with db.read() as session:
            attempts = (await session.exec(select(OutreachAttempt).where(
                OutreachAttempt.patient_id == confirmer))).all()  # fmt: skip
        assert sorted((a.kind, a.status, a.reason) for a in attempts) == [
            ("recall", "sent", None), ("reply", "sent", "confirmed")]  # fmt: skip
        attempt = next(a for a in attempts if a.kind == "recall")
        delivered = {"MessageSid": attempt.provider_id or "", "MessageStatus": "delivered"}
        assert (
            await post_signed(api.base_url, AUTH_TOKEN, "/twilio/sms/status", delivered)
        ).status_code == 204

        await campaigns.cancel(demo.clinic_id, campaign.id)
        progress = await finished(campaigns, demo.clinic_id, campaign.id)
    assert progress.confirmed == 1 and progress.opted_out >= 1 and progress.delivered == 1
    stopper_sms = await sms_to(db, phones[stopper] or "")
    assert [m.purpose for m in stopper_sms] == ["recall"], "nothing after STOP"
    confirmer_sms = await sms_to(db, phones[confirmer] or "")
    assert [m.purpose for m in confirmer_sms] == ["recall", "recall_reply"]
    assert "confirmed" in confirmer_sms[1].body
    async with db.read() as session:
        skipped = (await session.exec(select(OutreachAttempt).where(
            OutreachAttempt.kind == "reminder"))).all()  # fmt: skip
        replies = (await session.exec(select(InboundReply))).all()
    assert [(a.status, a.reason) for a in skipped] == [("skipped", "opted_out")]
    assert sorted(r.meaning for r in replies) == ["confirm", "stop"]


async def _all_contacted(db: Database, patients: list[str]) -> bool:
    async with db.read() as session:
        rows = (await session.exec(select(OutreachTarget))).all()
    return {t.patient_id for t in rows if t.status == "contacted"} >= set(patients)


async def _status(db: Database, patient_id: str, status: str) -> bool:
    return (await _target(db, patient_id)).status == status
