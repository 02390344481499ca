"""The steps of contacting one patient, shared by appointment reminders and campaign outreach:
wait for the rules to allow it (deferring, never dropping), send, call, handle replies.

Signals land in ``ContactState``; every wait also wakes on ``stopped`` (opt-out, campaign
cancelled), so nothing is sent after a STOP even if it was waiting on a timer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.outreach import OutreachActivities
    from workflows.outreach_types import (
        CallEvent,
        CallInput,
        Contact,
        Reply,
        ReplyAction,
        SendInput,
        SendResult,
        Verdict,
        VerdictInput,
    )

# Sends may wait minutes for the clinic's rate limit: retry for a day, never give up on a
# message the rules allowed. Template errors are non-retryable and fail at once.
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["template", "not_found", "misconfigured"],
)
START_TO_CLOSE = timedelta(seconds=30)
SCHEDULE_TO_CLOSE = timedelta(days=1)
WAKE_AFTER = timedelta(seconds=1)  # wake just after a window opens, not just before
MAX_DEFERRALS = 30  # a verdict that keeps deferring is a bug; stop and record it
ANSWERED_BY_MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence",
                       "machine_end_other", "fax")  # fmt: skip
CALL_OVER = ("completed", "busy", "no-answer", "failed", "canceled")


@dataclass
class ContactState:
    replies: list[Reply] = field(default_factory=list)
    call_events: list[CallEvent] = field(default_factory=list)
    stopped: str | None = None  # why we must not contact the patient any more

    def on_reply(self, reply: Reply) -> None:
        self.replies.append(reply)
        if reply.meaning == "stop":
            self.stopped = "opted_out"


async def _activity(fn: Callable[..., Any], arg: Any) -> Any:
    return await workflow.execute_activity_method(
        fn, arg, start_to_close_timeout=START_TO_CLOSE,
        schedule_to_close_timeout=SCHEDULE_TO_CLOSE, retry_policy=SEND_RETRY,
    )  # fmt: skip


async def sleep_until(
    state: ContactState, until: datetime, wake: Callable[[], bool] = lambda: False
) -> None:
    """A durable timer that also ends on a stop or when ``wake()`` becomes true."""
    delay = until - workflow.now()
    if delay <= timedelta(0):
        return
    with contextlib.suppress(TimeoutError):
        await workflow.wait_condition(lambda: state.stopped is not None or wake(), timeout=delay)


async def clear_to_call(state: ContactState, contact: Contact, step: str) -> Verdict:
    """Ask the rules until they say call or skip; sleep through every deferral."""
    for n in range(MAX_DEFERRALS):
        if state.stopped:
            return Verdict("skip", state.stopped)
        verdict: Verdict = await _activity(
            OutreachActivities.outreach_verdict, VerdictInput(contact, "voice", f"{step}/check{n}")
        )
        if verdict.action != "defer":
            return verdict
        assert verdict.until is not None
        await sleep_until(state, verdict.until + WAKE_AFTER)
    return Verdict("skip", "deferred_too_often")


async def send_sms(
    state: ContactState,
    contact: Contact,
    step: str,
    abort: Callable[[], bool] = lambda: False,
) -> SendResult:
    """Text the patient as soon as the rules allow (the send checks them, in one activity);
    sleep through every deferral. ``abort()`` (the appointment moved) ends the wait unsent,
    as "defer" with reason "aborted"."""
    for _ in range(MAX_DEFERRALS):
        if state.stopped:
            return SendResult("skipped", state.stopped)
        if abort():
            return SendResult("defer", "aborted")
        result: SendResult = await _activity(
            OutreachActivities.send_outreach_sms, SendInput(contact, step)
        )
        if result.status != "defer":
            return result
        assert result.until is not None
        await sleep_until(state, result.until + WAKE_AFTER, wake=abort)
    return SendResult("skipped", "deferred_too_often")


async def answer_reply(contact: Contact, reply: Reply, step: str) -> str | None:
    """Act on C or R; other texts are left for staff (they are in the inbound log)."""
    if reply.meaning not in ("confirm", "reschedule"):
        return None
    result: str = await _activity(
        OutreachActivities.handle_outreach_reply,
        ReplyAction(contact, reply.meaning, f"{step}/{reply.message_sid}"),
    )
    return result


async def call(
    state: ContactState, contact: Contact, step: str, voicemail: str, timeout: timedelta
) -> str:
    """Place a call; a machine gets the voicemail, a person the receptionist. Returns the
    outcome: "voicemail", the call record's outcome ("booked", "answered", ...), "no_answer",
    or the skip reason."""
    placed = await _activity(OutreachActivities.place_outreach_call, CallInput(contact, step))
    if placed.status == "skipped":
        return str(placed.reason)
    sid = placed.call_sid
    machine = placed.simulated == "voicemail"
    if not machine:

        def seen(kind: str) -> CallEvent | None:
            for event in state.call_events:
                if event.call_sid != sid:
                    continue
                if kind == "amd" and event.answered_by:
                    return event
                if kind == "over" and event.status in CALL_OVER:
                    return event
            return None

        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: seen("amd") is not None or seen("over") is not None, timeout=timeout
            )
        amd = seen("amd")
        machine = amd is not None and (amd.answered_by or "") in ANSWERED_BY_MACHINE
    if machine:
        await _activity(
            OutreachActivities.leave_voicemail,
            CallInput(replace(contact, template=voicemail), f"{step}/voicemail", sid),
        )
        return "voicemail"
    with contextlib.suppress(TimeoutError):
        await workflow.wait_condition(
            lambda: any(e.call_sid == sid and e.status in CALL_OVER for e in state.call_events),
            timeout=timeout,
        )
    outcome: str = await _activity(
        OutreachActivities.finish_outreach_call, CallInput(contact, f"{step}/done", sid)
    )
    return outcome
