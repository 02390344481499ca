"""The booking and cancellation sagas tell the reminders what happened (through the client
the worker runs with): arm for a new booking, move for a reschedule, stop for a cancel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from temporalio import activity

from activities.errors import classified
from core.db import Database
from durable.reminders import Reminders


@dataclass(frozen=True)
class ReminderChange:
    appointment_id: str
    change: Literal["booked", "rescheduled", "cancelled"]


class ReminderActivities:
    def __init__(self, db: Database, task_queue_prefix: str = "") -> None:
        self._db = db
        self._prefix = task_queue_prefix

    @activity.defn(name="update_reminders")
    @classified
    async def update_reminders(self, request: ReminderChange) -> None:
        reminders = Reminders(activity.client(), self._db, task_queue_prefix=self._prefix)
        if request.change == "booked":
            await reminders.arm(request.appointment_id)
        elif request.change == "rescheduled":
            await reminders.rescheduled(request.appointment_id)
        else:
            await reminders.cancelled(request.appointment_id)
