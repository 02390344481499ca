"""One run of a recall campaign: a bounded sliding window of outreach children.

Started by the campaign's Temporal Schedule (in the clinic's time zone) or on demand. The
first task snapshots the targets and renders the template for every one of them, so a
template that fails stops the run before anything is sent. Then at most ``in_flight``
children are *contacting* at once (``outreach-{target}``, abandoned on close so they survive
the run's continue-as-new). The window bounds the sends and calls, not the wait for a reply:
each child signals ``target_done`` (its release) as soon as its first contact is over -- text
sent, skipped, failed or stopped, or the call finished for voice -- and goes on waiting for
the patient's reply (48 h by default) by itself. A target is counted once: only a target in
the window is counted, and a child releases once. The run continues as new every few
thousand events, carrying only counters and the ids in flight, so 10,000 targets fit one
campaign.

"completed" means every target has been contacted (or skipped, or failed): replies (C / R /
STOP) may still come in, and ``sms_then_voice`` follow-up calls may still be placed when a
reply window ends, by the children that outlive the run. ``pause`` stops new starts
(children contacting finish), ``resume`` goes on, ``cancel`` stops the children still
contacting and the run; children already waiting for a reply are not signalled (the run does
not keep their ids) but place nothing more: the rules skip every contact of a cancelled
campaign (reason ``campaign_cancelled``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.campaigns import CampaignActivities
    from workflows import policies
    from workflows.outreach import PatientOutreachWorkflow
    from workflows.outreach_types import (
        CampaignRunInput,
        Contact,
        OutreachInput,
        PagedTarget,
        PageInput,
        PreparedRun,
        PrepareInput,
        RunFinished,
        RunSettings,
        TargetDone,
    )


# Histories recorded before an already started child stopped holding a slot.
ALREADY_STARTED_NOT_WAITED = "campaign-run-already-started-not-waited"


def outreach_id(target_id: str) -> str:
    return f"outreach-{target_id}"


@workflow.defn
class CampaignRunWorkflow:
    @workflow.init
    def __init__(self, request: CampaignRunInput) -> None:
        # From the input before any signal is handled: a continued run's first task can carry
        # ``target_done`` signals, and a window still empty then would drop them (and wait for
        # those targets forever).
        self._running: set[str] = set(request.running)
        self._done = request.done
        self._paused = request.paused
        self._cancelled = request.cancelled

    @workflow.signal
    def target_done(self, done: TargetDone) -> None:
        """The child's first contact is over (or the child ended): its slot is free. Only a
        target in the window counts, so a duplicate or late report is never counted twice."""
        if done.target_id in self._running:
            self._running.discard(done.target_id)
            self._done += 1

    @workflow.signal
    def pause(self) -> None:
        self._paused = True

    @workflow.signal
    def resume(self) -> None:
        self._paused = False

    @workflow.signal
    def cancel(self) -> None:
        self._cancelled = True

    @workflow.query
    def progress(self) -> dict[str, int | bool]:
        return {"done": self._done, "in_flight": len(self._running), "paused": self._paused}

    async def _local(self, fn: Callable[..., Any], arg: Any) -> Any:
        return await workflow.execute_activity_method(
            fn, arg, start_to_close_timeout=policies.LOCAL.start_to_close * 20,
            schedule_to_close_timeout=policies.LOCAL.schedule_to_close,
            retry_policy=RetryPolicy(
                initial_interval=policies.LOCAL.retry.initial_interval,
                maximum_interval=policies.LOCAL.retry.maximum_interval,
                non_retryable_error_types=["template", "not_found", "misconfigured"],
            ),
            heartbeat_timeout=policies.LOCAL.start_to_close * 2,
        )  # fmt: skip

    @workflow.run
    async def run(self, request: CampaignRunInput) -> RunFinished:
        run_key = workflow.info().workflow_id
        settings, total = request.settings, request.total
        if settings is None:
            try:
                prepared: PreparedRun = await self._local(
                    CampaignActivities.prepare_campaign_run,
                    PrepareInput(
                        request.campaign_id, run_key, request.window, request.reply_window_seconds
                    ),
                )
            except ActivityError as err:
                # Nothing was sent: the template (or the audience) failed for some target.
                cause = err.cause
                message = cause.message if isinstance(cause, ApplicationError) else str(err)
                return await self._finish(request.campaign_id, run_key, "failed", message)
            settings, total = prepared.settings, prepared.total
            if request.events_before_continue:
                settings = dataclasses.replace(
                    settings, events_before_continue=request.events_before_continue
                )
        next_seq = request.next_seq
        while True:
            await workflow.wait_condition(
                functools.partial(self._ready, next_seq, total, settings.in_flight)
            )
            if self._cancelled:
                await self._stop_children()
                return await self._finish(settings.campaign_id, run_key, "cancelled")
            if next_seq >= total and not self._running:
                return await self._finish(settings.campaign_id, run_key, "completed")
            info = workflow.info()
            if (
                info.get_current_history_length() >= settings.events_before_continue
                or info.is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    CampaignRunInput(
                        request.campaign_id, settings=settings, total=total, next_seq=next_seq,
                        running=sorted(self._running), done=self._done, paused=self._paused,
                        cancelled=self._cancelled,
                    )
                )  # fmt: skip
            room = settings.in_flight - len(self._running)
            page: list[PagedTarget] = await self._local(
                CampaignActivities.load_run_targets,
                PageInput(run_key, next_seq, min(room, settings.page_size)),
            )
            if not page:  # fewer targets than counted (cannot happen; never spin)
                next_seq = total
                continue
            await asyncio.gather(*(self._start(settings, run_key, t) for t in page))
            next_seq = page[-1].seq + 1

    def _ready(self, next_seq: int, total: int, in_flight: int) -> bool:
        """Something to do: cancelled, all done, or room in the window while not paused."""
        if self._cancelled or (next_seq >= total and not self._running):
            return True
        return not self._paused and next_seq < total and len(self._running) < in_flight

    async def _start(self, settings: RunSettings, run_key: str, target: PagedTarget) -> None:
        contact = Contact(
            clinic_id=settings.clinic_id,
            patient_id=target.patient_id,
            kind=settings.kind,
            template=settings.template,
            appointment_id=target.appointment_id,
            campaign_id=settings.campaign_id,
            target_id=target.target_id,
            window=settings.window,
        )
        self._running.add(target.target_id)
        try:
            await workflow.start_child_workflow(
                PatientOutreachWorkflow.run,
                OutreachInput(
                    contact, settings.channel, parent_id=run_key,
                    reply_window_seconds=settings.reply_window_seconds,
                    voicemail_template=settings.voicemail_template,
                ),
                id=outreach_id(target.target_id),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                # A target is contacted once: its outreach id is never reused.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )  # fmt: skip
        except WorkflowAlreadyStartedError:
            # Started by an earlier attempt of this run, and maybe over (or released) already:
            # it may never report back, so it does not hold a slot; counted as done now (a
            # later report is ignored: it is no longer in the window).
            workflow.logger.info("outreach already started", extra={"target": target.target_id})
            if workflow.patched(ALREADY_STARTED_NOT_WAITED):
                self._running.discard(target.target_id)
                self._done += 1

    async def _stop_children(self) -> None:
        for target_id in sorted(self._running):
            handle = workflow.get_external_workflow_handle(outreach_id(target_id))
            try:
                await handle.signal(PatientOutreachWorkflow.stop, "campaign_cancelled")
            except Exception:  # already finished: nothing to stop
                workflow.logger.debug("outreach already over", extra={"target": target_id})

    async def _finish(
        self,
        campaign_id: str,
        run_key: str,
        status: Literal["completed", "cancelled", "failed"],
        error: str | None = None,
    ) -> RunFinished:
        finished = RunFinished(campaign_id, run_key, status, error)
        await self._local(CampaignActivities.finish_campaign_run, finished)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return finished
