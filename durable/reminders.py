"""Appointment reminders from the booking path: arm, move, stop.

``arm`` starts ``appt-{clinic}-{appointment}`` with the clinic's offsets (idempotent: an
existing workflow is kept). A reschedule creates a new appointment row, so the reminders of
the original appointment (found through ``rescheduled_from_id``) get the ``reschedule``
update with the new id and time; ``cancel`` stops them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from core.campaigns.config import load_outreach_config
from core.campaigns.templates import template_text
from core.db import Database
from core.models import Appointment
from core.scheduling import NotFound
from workflows import queues
from workflows.outreach_types import (
    ReminderInput,
    ReminderOffset,
    ReminderState,
    Reschedule,
    Window,
)
from workflows.reminders import AppointmentReminderWorkflow

log = logging.getLogger(__name__)


def reminder_id(clinic_id: str, appointment_id: str) -> str:
    return f"appt-{clinic_id}-{appointment_id}"


@dataclass(frozen=True)
class ReminderOverrides:
    """Tests and benches shrink days to seconds; production uses the clinic's settings."""

    offsets: list[ReminderOffset] | None = None
    window: Window | None = None


class Reminders:
    def __init__(self, client: Client, db: Database, *, task_queue_prefix: str = "") -> None:
        self._client = client
        self._db = db
        self._queue = queues.named(task_queue_prefix, queues.CAMPAIGNS)

    async def _root(self, appointment_id: str) -> Appointment:
        """The first appointment of a reschedule chain: its id names the reminder workflow."""
        async with self._db.read() as session:
            appointment = await session.get(Appointment, appointment_id)
            if appointment is None:
                raise NotFound("unknown appointment")
            seen = {appointment.id}
            while appointment.rescheduled_from_id and appointment.rescheduled_from_id not in seen:
                earlier = await session.get(Appointment, appointment.rescheduled_from_id)
                if earlier is None:
                    break
                appointment = earlier
                seen.add(appointment.id)
        return appointment

    async def arm(self, appointment_id: str, overrides: ReminderOverrides | None = None) -> str:
        async with self._db.read() as session:
            appointment = await session.get(Appointment, appointment_id)
            if appointment is None:
                raise NotFound("unknown appointment")
            config = await load_outreach_config(session, appointment.clinic_id)
        overrides = overrides or ReminderOverrides()
        offsets = overrides.offsets or [
            ReminderOffset(rule.before_hours * 3600, rule.channel) for rule in config.reminders
        ]
        workflow_id = reminder_id(appointment.clinic_id, appointment.id)
        await self._client.start_workflow(
            AppointmentReminderWorkflow.run,
            ReminderInput(
                clinic_id=appointment.clinic_id,
                appointment_id=appointment.id,
                patient_id=appointment.patient_id,
                starts_at=appointment.starts_at,
                offsets=offsets,
                template=template_text("reminder", config.templates),
                window=overrides.window,
                voicemail_template=template_text("voicemail", config.templates),
            ),
            id=workflow_id,
            task_queue=self._queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        return workflow_id

    async def rescheduled(self, new_appointment_id: str) -> ReminderState | None:
        """The appointment moved: its reminders follow it. None when it had none running."""
        async with self._db.read() as session:
            moved = await session.get(Appointment, new_appointment_id)
        if moved is None:
            raise NotFound("unknown appointment")
        root = await self._root(new_appointment_id)
        if root.id == moved.id:
            await self.arm(moved.id)
            return None
        handle = self._client.get_workflow_handle(reminder_id(root.clinic_id, root.id))
        try:
            state: ReminderState = await handle.execute_update(
                AppointmentReminderWorkflow.reschedule,
                Reschedule(moved.id, moved.starts_at),
                id=f"reschedule-{moved.id}",
            )
        except (RPCError, WorkflowUpdateFailedError) as exc:
            if isinstance(exc, RPCError) and exc.status != RPCStatusCode.NOT_FOUND:
                raise
            log.info("no reminders to move", extra={"appointment_id": moved.id})
            return None
        return state

    async def cancelled(self, appointment_id: str) -> ReminderState | None:
        root = await self._root(appointment_id)
        handle = self._client.get_workflow_handle(reminder_id(root.clinic_id, root.id))
        try:
            state: ReminderState = await handle.execute_update(
                AppointmentReminderWorkflow.cancel, id=f"cancel-{appointment_id}"
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return None  # never armed, or already over
        return state
