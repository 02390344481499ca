"""Replay every recorded history against today's workflow code: the determinism guard.

A change to a workflow that would make running workflows fail on their next task (a step added,
removed or reordered without ``workflow.patched``) fails here, without a server. The histories
are recorded by ``tests/replay/record_histories.py``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from activities.booking import BookingActivities, CommitInput
from core.db import Database
from core.settings import Settings
from core.temporal import data_converter
from worker import registrations
from workflows.booking import BookingWorkflow
from workflows.campaigns import CampaignRunWorkflow
from workflows.cancel import CancelWorkflow
from workflows.contracts import BookingAccepted, BookingInput, BookingOutcome
from workflows.early_answer import EarlyAnswer
from workflows.ehr_sync import EhrSyncWorkflow
from workflows.eligibility import EligibilityWorkflow
from workflows.housekeeping import ExpireHoldsWorkflow
from workflows.outreach import PatientOutreachWorkflow
from workflows.reminders import AppointmentReminderWorkflow
from workflows.retention import RetentionPurgeWorkflow
from workflows.wrapup import CallWrapUpWorkflow

HISTORIES = Path(__file__).with_name("histories")
FILES = sorted(HISTORIES.glob("*.json"))
WORKFLOWS = [
    BookingWorkflow,
    CancelWorkflow,
    EligibilityWorkflow,
    CallWrapUpWorkflow,
    ExpireHoldsWorkflow,
    RetentionPurgeWorkflow,
    AppointmentReminderWorkflow,
    CampaignRunWorkflow,
    PatientOutreachWorkflow,
    EhrSyncWorkflow,
]


def type_name(cls: type) -> str:
    return workflow._Definition.must_from_class(cls).name


def load(path: Path) -> tuple[str, WorkflowHistory]:
    """The history's workflow type, and the history under the id it ran with."""
    events = json.loads(path.read_text())
    started = events["events"][0]["workflowExecutionStartedEventAttributes"]
    workflow_id = started.get("workflowId", path.stem)
    return started["workflowType"]["name"], WorkflowHistory.from_json(workflow_id, events)


def replayer(*workflows: type) -> Replayer:
    return Replayer(workflows=list(workflows or WORKFLOWS), data_converter=data_converter())


async def test_every_registered_workflow_has_recorded_histories() -> None:
    db = Database("sqlite://")
    try:
        registered = {type_name(w) for reg in registrations(db, Settings()) for w in reg.workflows}
    finally:
        await db.dispose()
    assert registered == {type_name(w) for w in WORKFLOWS}, "update WORKFLOWS in this test"
    recorded = {load(path)[0] for path in FILES}
    missing = registered - recorded
    assert not missing, f"no recorded history for {sorted(missing)}: see histories/README.md"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_history_replays_deterministically(path: Path) -> None:
    _, history = load(path)
    result = await replayer().replay_workflow(history)
    assert result.replay_failure is None


# --- the guard itself: an incompatible change must fail replay ------------------------------


@workflow.defn(name="BookingWorkflow", sandboxed=False)
class BookingWorkflowWithoutAcceptance:
    """BookingWorkflow as a careless edit might leave it: the local acceptance step removed,
    going straight to the EHR."""

    def __init__(self) -> None:
        self._answer = EarlyAnswer[BookingAccepted]()

    @workflow.update
    async def accepted(self) -> BookingAccepted:
        return await self._answer.wait()

    @workflow.run
    async def run(self, request: BookingInput) -> BookingOutcome:
        commit = await workflow.execute_activity_method(
            BookingActivities.commit_to_ehr,
            CommitInput(request.hold_id),
            start_to_close_timeout=timedelta(seconds=30),
        )
        return BookingOutcome(status="booked", external_id=commit.external_id)


async def test_altered_workflow_fails_replay() -> None:
    _, history = load(HISTORIES / "booking_booked.json")
    with pytest.raises(NondeterminismError, match="TMPRL1100"):
        await replayer(BookingWorkflowWithoutAcceptance).replay_workflow(history)
