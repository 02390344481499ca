"""Appointment reminders: one workflow per appointment, ``appt-{clinic}-{appointment}``.

Durable timers fire at the clinic's offsets before the start (e.g. 72 h and 24 h). A reschedule
arrives as the ``reschedule`` update and moves every timer still to come (the reminders follow
the appointment's new id and time); ``cancel`` stops them, so a cancelled appointment never
gets a reminder. Offsets already past when armed are skipped, not sent late. Replies to a
reminder (C / R / STOP) arrive as signals; a STOP ends the reminders for good.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import outreach_steps as steps
    from workflows.outreach_types import (
        CallEvent,
        Contact,
        ReminderInput,
        ReminderOffset,
        ReminderState,
        Reply,
        Reschedule,
    )


def offset_key(offset: ReminderOffset, starts_at: datetime) -> str:
    return f"{offset.before_seconds:g}s@{starts_at.isoformat()}"


@workflow.defn
class AppointmentReminderWorkflow:
    @workflow.init
    def __init__(self, request: ReminderInput) -> None:
        self._appointment_id = request.appointment_id
        self._starts_at = request.starts_at
        self._cancelled = False
        self._changed = False
        self._done: list[str] = []  # offset keys sent or skipped
        self._state = steps.ContactState()
        self._handled = 0  # replies answered

    @workflow.update
    def reschedule(self, change: Reschedule) -> ReminderState:
        self._appointment_id = change.appointment_id
        self._starts_at = change.starts_at
        self._changed = True
        return self.state()

    @reschedule.validator
    def _can_reschedule(self, change: Reschedule) -> None:
        if self._cancelled:
            raise ApplicationError("the appointment was cancelled", type="cancelled")

    @workflow.update
    def cancel(self) -> ReminderState:
        self._cancelled = True
        return self.state()

    @workflow.signal
    def reply(self, reply: Reply) -> None:
        self._state.on_reply(reply)

    @workflow.signal
    def call_event(self, event: CallEvent) -> None:
        self._state.call_events.append(event)

    @workflow.query
    def state(self) -> ReminderState:
        return ReminderState(
            self._appointment_id, self._starts_at, self._cancelled, list(self._done)
        )

    def _arm(self, offsets: list[ReminderOffset]) -> None:
        """Offsets whose time is already past for this start are skipped, not sent late."""
        now = workflow.now()
        for offset in offsets:
            key = offset_key(offset, self._starts_at)
            passed = self._starts_at - timedelta(seconds=offset.before_seconds) <= now
            if passed and key not in self._done:
                self._done.append(key)

    def _next(self, offsets: list[ReminderOffset]) -> ReminderOffset | None:
        due = [o for o in offsets if offset_key(o, self._starts_at) not in self._done]
        return max(due, key=lambda o: o.before_seconds) if due else None

    @workflow.run
    async def run(self, request: ReminderInput) -> ReminderState:
        self._arm(request.offsets)
        while not self._cancelled and not self._state.stopped:
            offset = self._next(request.offsets)
            fire_at = (
                self._starts_at - timedelta(seconds=offset.before_seconds)
                if offset
                else self._starts_at  # all sent: still take replies until the visit
            )
            await steps.sleep_until(
                self._state,
                fire_at,
                wake=lambda: self._moved_or_stopped() or len(self._state.replies) > self._handled,
            )
            if self._cancelled or self._state.stopped:
                break
            if self._changed:
                self._changed = False
                self._arm(request.offsets)
                continue
            if len(self._state.replies) > self._handled:
                reply = self._state.replies[self._handled]
                self._handled += 1
                await steps.answer_reply(self._contact(request), reply, "reply")
                continue
            if offset is None:
                break  # the visit has started
            await self._remind(request, offset)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()

    def _contact(self, request: ReminderInput) -> Contact:
        return Contact(
            clinic_id=request.clinic_id,
            patient_id=request.patient_id,
            kind="reminder",
            template=request.template,
            appointment_id=self._appointment_id,
            window=request.window,
            deadline=self._starts_at,
        )

    async def _remind(self, request: ReminderInput, offset: ReminderOffset) -> None:
        key = offset_key(offset, self._starts_at)
        contact = self._contact(request)
        if offset.channel == "voice":
            verdict = await steps.clear_to_call(self._state, contact, key)
            if self._moved_or_stopped():
                return  # re-planned: nothing is said about the old time
            self._done.append(key)
            if verdict.action == "send":
                await steps.call(
                    self._state, contact, key, request.voicemail_template, timedelta(minutes=10)
                )
            return
        # A reschedule or cancel while it waits for the send window aborts it: re-planned,
        # never sent about the old time.
        result = await steps.send_sms(self._state, contact, key, abort=self._moved_or_stopped)
        if result.status != "defer":
            self._done.append(key)

    def _moved_or_stopped(self) -> bool:
        return self._changed or self._cancelled or self._state.stopped is not None
