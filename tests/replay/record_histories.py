"""Record the workflow histories that ``test_replay.py`` replays.

    uv run python -m tests.replay.record_histories [group ...]   (groups: core, retention, outreach)

Starts its own headless Temporal dev server and a fresh migrated SQLite database seeded with
the demo clinic (synthetic people only), runs the real workers in-process, drives each scenario
through the real client code and writes every finished workflow's history to
``tests/replay/histories/<scenario>.json`` (failure stack traces removed: they hold local
paths and replay ignores them).

Re-record only after an intentional workflow change that is guarded by ``workflow.patched``
(keep the old histories too until no such run can be open), never to make the replay test pass
after an accidental change.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.ehr_sync import SyncInput
from core.db import Database
from core.demo.seed import seed_demo
from core.migrate import upgrade
from core.models import Call, InsuranceCoverage, TranscriptTurn
from core.scheduling import HoldRequest, hold_slot, release_hold
from core.security.crypto import blind_index
from core.settings import Settings
from durable import ids
from durable.booking import BookingRequest, Bookings
from durable.calls import CallEvents
from durable.update_with_start import update_with_start
from integrations.registry import AdapterRegistry
from stack.devserver import DevServer, free_port
from stack.temporal_cli import ensure_temporal_cli
from tests.campaigns.replay_scenarios import drive_outreach
from tests.fakes.adapters import RefusingEhr
from tests.support.booking import free_slots, seeded_patient, use_adapter
from tests.support.workers import running_worker
from workflows import queues
from workflows.booking import BookingWorkflow
from workflows.contracts import (
    BookingInput,
    CallStatusUpdate,
    CancelInput,
    EligibilityInput,
    SessionReport,
    TranscriptLine,
    WrapUpInput,
)
from workflows.ehr_sync import EhrSyncWorkflow
from workflows.housekeeping import ExpireHoldsWorkflow
from workflows.retention import RetentionPurgeWorkflow

HISTORIES = Path(__file__).with_name("histories")
# Fixed so the recorded task queues and worker identities do not change between recordings.
PREFIX = "replay-"
IDENTITY = "history-recorder"
WAIT = timedelta(seconds=15)
FINISH_WITHIN = 60.0

# Synthetic, matching the seeded patient Alex Rivera (core/demo/seed.py).
PAYER, MEMBER_ID = "Delta Dental", "DD100200301"
CALLER, CLINIC_NUMBER = "+12075550111", "+12075550100"


def without_stack_traces(node: Any) -> Any:
    """Failures' stack traces name this machine's paths and play no part in replay."""
    if isinstance(node, dict):
        return {k: without_stack_traces(v) for k, v in node.items() if k != "stackTrace"}
    if isinstance(node, list):
        return [without_stack_traces(v) for v in node]
    return node


class Recorder:
    def __init__(self, client: Client, out_dir: Path) -> None:
        self.client = client
        self.out_dir = out_dir
        self.written: dict[str, tuple[str, int]] = {}

    async def save(self, scenario: str, workflow_id: str) -> Any:
        """Wait for the workflow to finish, then write its history; returns its result."""
        handle = self.client.get_workflow_handle(workflow_id)
        result = await asyncio.wait_for(handle.result(), FINISH_WITHIN)
        history = await handle.fetch_history()
        first = history.events[0].workflow_execution_started_event_attributes
        path = self.out_dir / f"{scenario}.json"
        events = without_stack_traces(json.loads(history.to_json()))
        path.write_text(json.dumps(events, indent=2) + "\n")
        self.written[scenario] = (first.workflow_type.name, path.stat().st_size)
        return result


def expect(what: str, actual: object, wanted: object) -> None:
    if actual != wanted:
        raise RuntimeError(f"{what}: expected {wanted!r}, got {actual!r}")


async def drive(rec: Recorder, db: Database, clinic_id: str, prefix: str) -> None:
    client = rec.client
    bookings = Bookings(client, db, task_queue_prefix=prefix)
    events = CallEvents(client, task_queue_prefix=prefix)
    patient = await seeded_patient(db)
    first, second, third, fourth, fifth = await free_slots(db, clinic_id, count=5)

    def request(slot: Any, request_id: str, **kwargs: Any) -> BookingRequest:
        return BookingRequest(
            clinic_id=clinic_id,
            request_id=request_id,
            provider_id=slot.provider_id,
            appointment_type="cleaning",
            starts_at=slot.starts_at,
            patient_id=patient.id,
            call_sid="CAreplay0000000000000000000000001",
            **kwargs,
        )

    # --- booking: accepted, written to the EHR, confirmed ------------------------------------
    booked = await bookings.book(request(first, "replay-booked"), answer_within=WAIT)
    expect("booking_booked decision", booked.status, "accepted")
    outcome = await rec.save("booking_booked", booked.workflow_id)
    expect("booking_booked outcome", outcome["status"], "booked")
    assert booked.accepted is not None

    # --- reschedule of that booking ----------------------------------------------------------
    moved = await bookings.book(
        request(second, "replay-reschedule", reschedule_of=booked.accepted.appointment_id),
        answer_within=WAIT,
    )
    expect("reschedule_booked decision", moved.status, "accepted")
    outcome = await rec.save("reschedule_booked", moved.workflow_id)
    expect("reschedule_booked outcome", outcome["status"], "booked")
    assert moved.accepted is not None

    # --- cancellation of the moved appointment, and of one that does not exist -------------
    status, _, _ = await bookings.cancel(
        CancelInput(clinic_id, moved.accepted.appointment_id, "patient request"),
        answer_within=WAIT,
    )
    expect("cancel_cancelled decision", status, "accepted")
    outcome = await rec.save(
        "cancel_cancelled", ids.cancellation(clinic_id, moved.accepted.appointment_id)
    )
    expect("cancel_cancelled outcome", outcome["status"], "cancelled")

    status, _, reason = await bookings.cancel(
        CancelInput(clinic_id, "no-such-appointment"), answer_within=WAIT
    )
    expect("cancel_rejected decision", (status, reason), ("rejected", "not_found"))
    outcome = await rec.save("cancel_rejected", ids.cancellation(clinic_id, "no-such-appointment"))
    expect("cancel_rejected outcome", outcome["status"], "rejected")

    # --- booking rejected: the caller's hold lapsed and another caller took the time ---------
    # (Bookings.book rejects a taken slot before any workflow starts, so the saga is started
    # here with the lapsed hold, as a retried tool call would after the hold was released.)
    late_id = ids.booking(clinic_id, "replay-slot-taken")
    lapsed = await hold_slot(
        db, HoldRequest(clinic_id, third.provider_id, "cleaning", third.starts_at, late_id)
    )
    await release_hold(db, lapsed.id)
    await hold_slot(
        db, HoldRequest(clinic_id, third.provider_id, "cleaning", third.starts_at, "CAother")
    )
    answer = await update_with_start(
        client,
        BookingWorkflow.accepted,
        BookingWorkflow.run,
        BookingInput(clinic_id, "replay-slot-taken", lapsed.id, patient_id=patient.id),
        workflow_id=late_id,
        task_queue=queues.named(prefix, queues.INTERACTIVE),
        answer_within=WAIT,
    )
    expect("booking_rejected answer", (answer.status, answer.reason), ("rejected", "hold_expired"))
    outcome = await rec.save("booking_rejected_slot_taken", late_id)
    expect("booking_rejected outcome", outcome["status"], "rejected")

    # --- booking the EHR refuses: compensated ------------------------------------------------
    await use_adapter(db, clinic_id, "ehr", "refusing")
    try:
        refused = await bookings.book(request(fourth, "replay-ehr-refused"), answer_within=WAIT)
        expect("booking_ehr_failed decision", refused.status, "accepted")
        outcome = await rec.save("booking_ehr_failed_compensated", refused.workflow_id)
        expect("booking_ehr_failed outcome", outcome["status"], "failed")
    finally:
        await use_adapter(db, clinic_id, "ehr", "local")

    # --- eligibility: a known member, and an unknown one -------------------------------------
    async with db.write() as session:  # the seed may already know this member
        known = await session.exec(
            select(InsuranceCoverage).where(
                InsuranceCoverage.clinic_id == clinic_id,
                InsuranceCoverage.member_index == blind_index("member_id", MEMBER_ID),
            )
        )
        if known.first() is None:
            session.add(
                InsuranceCoverage(
                    clinic_id=clinic_id,
                    payer=PAYER,
                    member_id=MEMBER_ID,
                    plan_name="Delta Dental PPO",
                )
            )

    async def eligibility(scenario: str, member_id: str, status: str) -> None:
        check = EligibilityInput(
            clinic_id=clinic_id,
            request_id=f"replay-{scenario}",
            payer=PAYER,
            member_id=member_id,
            first_name="Alex",
            last_name="Rivera",
            date_of_birth="1985-03-14",
            patient_id=patient.id,
            call_sid="CAreplay0000000000000000000000002",
        )
        await events.verify_insurance(check, answer_within=WAIT)
        outcome = await rec.save(scenario, ids.eligibility(clinic_id, check.request_id))
        expect(f"{scenario} outcome", outcome["status"], status)

    await eligibility("eligibility_active", MEMBER_ID, "active")
    await eligibility("eligibility_unverified", "DD999999999", "unverified")

    # --- call wrap-up: with the voice loop's report, and from Twilio's status alone ----------
    now = datetime.now(UTC).replace(microsecond=0)
    call = WrapUpInput(
        clinic_id=clinic_id,
        call_sid="CAreplay0000000000000000000000003",
        from_number=CALLER,
        to_number=CLINIC_NUMBER,
        started_at=now - timedelta(minutes=2),
    )
    said = [
        ("agent", "Thank you for calling Bright Smile Dental. How can I help?"),
        ("caller", "I have a question about a bill I received."),
        ("agent", "Let me transfer you to our billing team."),
    ]
    transcript = [
        TranscriptLine(role, text, now - timedelta(seconds=90 - 10 * n))  # type: ignore[arg-type]
        for n, (role, text) in enumerate(said)
    ]
    report = SessionReport(
        ended_at=now,
        outcome="transferred",
        transcript=transcript,
        tools_used=["transfer_call"],
        patient_id=patient.id,
        transfer_reason="billing question",
    )
    workflow_id = await events.session_ended(call, report)
    await events.call_status(call, CallStatusUpdate("completed", now, duration_seconds=120))
    outcome = await rec.save("wrapup_with_report", workflow_id)
    expect("wrapup_with_report staff tasks", outcome["staff_tasks"], 1)

    unanswered = WrapUpInput(
        clinic_id=clinic_id,
        call_sid="CAreplay0000000000000000000000004",
        from_number="+12075550112",
        to_number=CLINIC_NUMBER,
        report_grace_seconds=0.5,
    )
    workflow_id = await events.call_status(unanswered, CallStatusUpdate("no-answer", now))
    await rec.save("wrapup_status_only", workflow_id)

    # --- housekeeping: one lapsed hold to release --------------------------------------------
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    await hold_slot(
        db,
        HoldRequest(clinic_id, fifth.provider_id, "cleaning", fifth.starts_at, "CAlapsed"),
        now=hour_ago,
    )
    handle = await client.start_workflow(
        ExpireHoldsWorkflow.run,
        id="replay-expire-holds",
        task_queue=queues.named(prefix, queues.SIDE_EFFECTS),
    )
    released = await rec.save("expire_holds", handle.id)
    expect("expire_holds released", released >= 1, True)


async def drive_retention(rec: Recorder, db: Database, clinic_id: str, prefix: str) -> None:
    """The retention purge, with one call old enough to lose its transcript."""
    async with db.write() as session:
        call = Call(
            clinic_id=clinic_id,
            call_sid="CAreplay0000000000000000000000005",
            from_number=CALLER,
            started_at=datetime.now(UTC) - timedelta(days=4000),
            summary="Asked about opening hours.",
        )
        session.add(call)
        session.add(TranscriptTurn(call_id=call.id, seq=0, role="caller", text="Are you open?"))
    handle = await rec.client.start_workflow(
        RetentionPurgeWorkflow.run,
        id="replay-retention-purge",
        task_queue=queues.named(prefix, queues.SIDE_EFFECTS),
    )
    report = await rec.save("retention_purge", handle.id)
    expect("retention_purge calls", sum(c["calls"] for c in report["clinics"]), 1)


async def drive_ehr_sync(rec: Recorder, db: Database, clinic_id: str, prefix: str) -> None:
    """One schedule pull (the demo clinic's local EHR has nothing to pull: the run says so)."""
    handle = await rec.client.start_workflow(
        EhrSyncWorkflow.run,
        SyncInput(clinic_id),
        id="replay-ehr-sync",
        task_queue=queues.named(prefix, queues.SIDE_EFFECTS),
    )
    result = await rec.save("ehr_sync_skipped", handle.id)
    expect("ehr_sync skipped", bool(result["skipped"]), True)


GROUPS = {
    "core": drive,
    "retention": drive_retention,
    "outreach": drive_outreach,
    "ehr_sync": drive_ehr_sync,
}


async def record(
    out_dir: Path = HISTORIES, groups: list[str] | None = None
) -> dict[str, tuple[str, int]]:
    binary = ensure_temporal_cli(Settings())
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="replay-") as tmp:
        root = Path(tmp)
        server = DevServer(
            binary, root / "temporal.db", port=free_port(), ui_port=None,
            log_file=root / "temporal.log",
        )  # fmt: skip
        server.start()
        try:
            await server.wait_ready()
            # Unencrypted on purpose: the histories are committed and replayed on machines with
            # other keys. They hold synthetic people only.
            client = await Client.connect(
                server.address, data_converter=pydantic_data_converter, identity=IDENTITY
            )
            url = f"sqlite:///{root / 'receptionist.db'}"
            await asyncio.to_thread(upgrade, url)
            db = Database(url)
            try:
                demo = await seed_demo(db)
                registry = AdapterRegistry()
                registry.register("ehr", "refusing", RefusingEhr)
                rec = Recorder(client, out_dir)
                async with running_worker(client, db, registry, prefix=PREFIX) as prefix:
                    for group in groups or list(GROUPS):
                        await GROUPS[group](rec, db, demo.clinic_id, prefix)
                return rec.written
            finally:
                await db.dispose()
        finally:
            server.stop()


def main() -> None:
    groups = sys.argv[1:] or None
    if groups and not set(groups) <= set(GROUPS):
        raise SystemExit(f"unknown group; choose from {sorted(GROUPS)}")
    written = asyncio.run(record(groups=groups))
    for scenario, (workflow_type, size) in sorted(written.items()):
        print(f"{scenario:30} {workflow_type:20} {size:>7,} bytes")
    print(f"{len(written)} histories written to {HISTORIES}")


if __name__ == "__main__":
    main()
