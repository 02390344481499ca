"""One patient of a campaign: wait for the rules, text (and/or call), handle the reply.

Started by the campaign run as a child with id ``outreach-{target}`` (the target row is
opaque and PHI-free). Replies (C / R / STOP) and call events arrive as signals from the
webhooks; ``stop`` ends it early (campaign cancelled).

The run's sliding window bounds the contacting, not the wait for a reply: the child signals
``target_done`` to the run (the "release") as soon as its first contact is over -- the text
sent, or skipped, failed or stopped before it went, or the call finished for voice -- and then
keeps waiting for the reply on its own (up to the reply window, 48 h by default). It releases
exactly once, even across the run's continue-as-new. A follow-up call (``sms_then_voice``) is
made only if the rules still allow it: a cancelled campaign's children skip it (the run stops
only the children still contacting).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.outreach import CAMPAIGN_CANCELLED, OutreachActivities
    from workflows import outreach_steps as steps
    from workflows.outreach_types import (
        CallEvent,
        OutreachInput,
        OutreachOutcome,
        Reply,
        TargetDone,
        TargetUpdate,
    )
    from workflows.policies import failure_type

CALL_OUTCOMES = {"booked": "rebooked", "rescheduled": "rebooked", "cancelled": "contacted"}
# Histories recorded before it signalled ``target_done`` only when the whole run ended.
RELEASE_AFTER_CONTACT = "outreach-release-after-first-contact"


@workflow.defn
class PatientOutreachWorkflow:
    def __init__(self) -> None:
        self._state = steps.ContactState()
        self._status = "starting"
        self._handled = 0  # replies answered
        self._released = False  # the run's window no longer holds this target

    @workflow.signal
    def reply(self, reply: Reply) -> None:
        self._state.on_reply(reply)

    @workflow.signal
    def call_event(self, event: CallEvent) -> None:
        self._state.call_events.append(event)

    @workflow.signal
    def stop(self, reason: str) -> None:
        self._state.stopped = self._state.stopped or reason

    @workflow.query
    def status(self) -> str:
        return self._status

    @workflow.run
    async def run(self, request: OutreachInput) -> OutreachOutcome:
        try:
            outcome = await self._contact(request)
        except ActivityError as err:
            outcome = OutreachOutcome(request.contact.target_id, "failed", failure_type(err))
        if outcome.status != "contacted" or outcome.reason:
            await self._record(request, outcome)
        if not self._released:  # ended before (or without) an early release
            await self._tell_run(request, outcome.status)
        return outcome

    async def _release(self, request: OutreachInput, status: str) -> None:
        """The first contact is over: free the run's slot while replies are awaited."""
        if self._released or not workflow.patched(RELEASE_AFTER_CONTACT):
            return
        self._released = True
        await self._tell_run(request, status)

    async def _tell_run(self, request: OutreachInput, status: str) -> None:
        if not (request.parent_id and request.contact.target_id):
            return
        parent = workflow.get_external_workflow_handle(request.parent_id)
        try:
            await parent.signal("target_done", TargetDone(request.contact.target_id, status))
        except Exception:  # the run was cancelled or finished: nobody waits any more
            workflow.logger.info("campaign run gone", extra={"parent": request.parent_id})

    async def _record(self, request: OutreachInput, outcome: OutreachOutcome) -> None:
        if request.contact.target_id is None:
            return
        await workflow.execute_activity_method(
            OutreachActivities.update_outreach_target,
            TargetUpdate(request.contact.target_id, outcome.status, outcome.reason or None),
            start_to_close_timeout=steps.START_TO_CLOSE,
            schedule_to_close_timeout=steps.SCHEDULE_TO_CLOSE,
            retry_policy=steps.SEND_RETRY,
        )

    def _stopped(self, request: OutreachInput) -> OutreachOutcome:
        reason = self._state.stopped or "stopped"
        status = "opted_out" if reason == "opted_out" else "cancelled"
        return OutreachOutcome(request.contact.target_id, status, reason)

    async def _contact(self, request: OutreachInput) -> OutreachOutcome:
        contact = request.contact
        if request.channel == "voice":
            return await self._call(request, "call")
        self._status = "texting"
        sent = await steps.send_sms(self._state, contact, "sms")
        if self._state.stopped:
            return self._stopped(request)
        if sent.status == "skipped":
            return OutreachOutcome(contact.target_id, "skipped", sent.reason)
        await self._release(request, "contacted")
        self._status = "waiting for a reply"
        answer = await self._await_reply(request)
        if answer is not None:
            return answer
        if self._state.stopped:
            return self._stopped(request)
        if request.channel == "sms_then_voice":
            return await self._call(request, "call")
        return OutreachOutcome(contact.target_id, "contacted")

    async def _await_reply(self, request: OutreachInput) -> OutreachOutcome | None:
        deadline = workflow.now() + timedelta(seconds=request.reply_window_seconds)
        while workflow.now() < deadline and not self._state.stopped:
            await steps.sleep_until(
                self._state, deadline, wake=lambda: len(self._state.replies) > self._handled
            )
            while self._handled < len(self._state.replies) and not self._state.stopped:
                reply = self._state.replies[self._handled]
                self._handled += 1
                result = await steps.answer_reply(request.contact, reply, "reply")
                if result == "confirmed":
                    return OutreachOutcome(request.contact.target_id, "confirmed")
                if result is not None:
                    return OutreachOutcome(request.contact.target_id, "rebooked", result)
        return None

    async def _call(self, request: OutreachInput, step: str) -> OutreachOutcome:
        self._status = "waiting to call"
        verdict = await steps.clear_to_call(self._state, request.contact, step)
        if self._state.stopped:
            return self._stopped(request)
        if verdict.action == "skip":
            status = "cancelled" if verdict.reason == CAMPAIGN_CANCELLED else "skipped"
            return OutreachOutcome(request.contact.target_id, status, verdict.reason)
        self._status = "calling"
        outcome = await steps.call(
            self._state, request.contact, step, request.voicemail_template,
            timedelta(seconds=request.call_timeout_seconds),
        )  # fmt: skip
        if self._state.stopped:
            return self._stopped(request)
        status = CALL_OUTCOMES.get(outcome, "contacted")
        if outcome in ("opted_out", "no_phone", "no_clinic_number"):
            status = "skipped"
        return OutreachOutcome(request.contact.target_id, status, outcome)
