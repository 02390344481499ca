"""Campaigns for staff: create, preview, start, pause, resume, cancel, progress.

One facade for the CLI and the admin API. A campaign is a row plus a Temporal Schedule
``campaign-{id}`` in the clinic's time zone (a cron for recurring campaigns, one calendar
point for a one-off, or triggered at once); each firing starts a ``CampaignRunWorkflow``.
Everything is validated before anything is scheduled: the audience, the channel, the cron and
the template (a template that cannot render is refused with the reason, nothing is sent).
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from core.campaigns.config import load_outreach_config
from core.campaigns.phones import phone_key
from core.campaigns.targets import ABOUT_APPOINTMENTS, AUDIENCES, DEFAULT_TEMPLATE, find_targets
from core.campaigns.templates import (
    BUILTIN,
    TemplateContext,
    TemplateError,
    check_template,
    render,
    template_text,
)
from core.db import Database
from core.models import (
    Appointment,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Clinic,
    ClinicPhoneNumber,
    OptOut,
    OutreachAttempt,
    OutreachTarget,
    Patient,
    Provider,
)
from workflows import queues
from workflows.campaigns import CampaignRunWorkflow
from workflows.outreach_types import CampaignRunInput, Window

CHANNELS = ("sms", "voice", "sms_then_voice")
_CRON = re.compile(r"^\S+(\s+\S+){4}$")


class CampaignError(ValueError):
    """A request refused with a message for staff (no PHI)."""


class CampaignNotFound(LookupError):
    pass


@dataclass(frozen=True)
class NewCampaign:
    clinic_id: str
    name: str
    audience: str
    channel: str = "sms"
    template: str | None = None  # a template name ("recall") or the text itself
    cron: str | None = None  # recurring, clinic time
    start_at: datetime | None = None  # one-off at this time (aware)
    max_targets: int = 10_000
    window: int = 100
    created_by: str | None = None


@dataclass(frozen=True)
class PreviewRow:
    patient_id: str
    name: str  # first name and last initial: enough for staff to recognise, no more
    reason: str
    would_skip: str | None  # "opted_out", "no_phone"


@dataclass(frozen=True)
class Preview:
    campaign_id: str
    total: int
    will_contact: int
    sample_message: str | None
    rows: list[PreviewRow]


@dataclass(frozen=True)
class Progress:
    campaign_id: str
    status: str
    error: str | None
    targets: int
    sent: int
    delivered: int
    confirmed: int
    rebooked: int
    opted_out: int
    failed: int
    pending: int
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOverrides:
    """For tests and benches: a send window and reply wait other than the clinic's."""

    window: Window | None = None
    reply_window_seconds: float | None = None
    events_before_continue: int | None = None


def schedule_id(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


def _resolve_template(text_or_name: str | None, audience: str, overrides: dict[str, str]) -> str:
    if not text_or_name:
        return template_text(DEFAULT_TEMPLATE[audience], overrides)
    if text_or_name in BUILTIN or text_or_name in overrides:
        return template_text(text_or_name, overrides)
    return text_or_name


class Campaigns:
    def __init__(self, client: Client, db: Database, *, task_queue_prefix: str = "") -> None:
        self._client = client
        self._db = db
        self._queue = queues.named(task_queue_prefix, queues.CAMPAIGNS)

    async def get(self, clinic_id: str, campaign_id: str) -> Campaign:
        async with self._db.read() as session:
            campaign = await session.get(Campaign, campaign_id)
        if campaign is None or campaign.clinic_id != clinic_id:
            raise CampaignNotFound("no such campaign")
        return campaign

    async def of_clinic(self, clinic_id: str) -> list[Campaign]:
        async with self._db.read() as session:
            rows = await session.exec(
                select(Campaign)
                .where(Campaign.clinic_id == clinic_id)
                .order_by(col(Campaign.created_at).desc())
            )
            return list(rows.all())

    async def create(self, request: NewCampaign) -> Campaign:
        if request.audience not in AUDIENCES:
            raise CampaignError(f"audience: use one of {', '.join(AUDIENCES)}")
        if request.channel not in CHANNELS:
            raise CampaignError(f"channel: use one of {', '.join(CHANNELS)}")
        if request.cron and not _CRON.match(request.cron.strip()):
            raise CampaignError("cron: five fields, e.g. '0 10 * * MON' (clinic time)")
        if request.cron and request.start_at:
            raise CampaignError("give either cron (recurring) or start_at (one-off), not both")
        if request.start_at is not None and request.start_at.tzinfo is None:
            raise CampaignError("start_at: give the time with its UTC offset")
        if not 1 <= request.window <= 1000:
            raise CampaignError("window: 1 to 1000 patients in flight")
        if not 1 <= request.max_targets <= 100_000:
            raise CampaignError("max_targets: 1 to 100000")
        if not request.name.strip():
            raise CampaignError("name: required")
        async with self._db.read() as session:
            clinic = await session.get(Clinic, request.clinic_id)
            if clinic is None:
                raise CampaignNotFound("no such clinic")
            config = await load_outreach_config(session, clinic.id)
        try:
            text = _resolve_template(request.template, request.audience, config.templates)
            check_template(
                text, where="template", appointments=request.audience in ABOUT_APPOINTMENTS
            )
        except TemplateError as exc:
            raise CampaignError(str(exc)) from None
        campaign = Campaign(
            clinic_id=clinic.id, name=request.name.strip()[:120], audience=request.audience,
            channel=request.channel, template=text, cron=request.cron, start_at=request.start_at,
            max_targets=request.max_targets, window=request.window, created_by=request.created_by,
        )  # fmt: skip
        async with self._db.write() as session:
            session.add(campaign)
        return campaign

    async def preview(self, clinic_id: str, campaign_id: str, limit: int = 50) -> Preview:
        """Who would be contacted now and why, and the message the first one would get. The
        template is rendered for every target: one that fails is reported, nothing is sent."""
        campaign = await self.get(clinic_id, campaign_id)
        async with self._db.read() as session:
            clinic = await session.get(Clinic, clinic_id)
            assert clinic is not None
            config = await load_outreach_config(session, clinic_id)
            targets = await find_targets(
                session, clinic, campaign.audience, config, datetime.now(UTC), campaign.max_targets
            )
            ids = [t.patient_id for t in targets]
            patients = {
                p.id: p
                for p in (await session.exec(select(Patient).where(col(Patient.id).in_(ids)))).all()
            }
            opted = set(
                (
                    await session.exec(
                        select(OptOut.phone_index).where(OptOut.clinic_id == clinic_id)
                    )
                ).all()
            )
            number = (
                await session.exec(
                    select(ClinicPhoneNumber.e164).where(ClinicPhoneNumber.clinic_id == clinic_id)
                )
            ).first()
            appointments = {
                a.id: (a, name)
                for a, name in (
                    await session.exec(
                        select(Appointment, Provider.name)
                        .join(Provider, col(Provider.id) == Appointment.provider_id)
                        .where(col(Appointment.id).in_([t.appointment_id for t in targets]))
                    )
                ).all()
            }
        rows: list[PreviewRow] = []
        sample: str | None = None
        for n, target in enumerate(targets):
            patient = patients[target.patient_id]
            appointment, provider = appointments.get(target.appointment_id or "", (None, ""))
            try:
                body = render(
                    campaign.template,
                    TemplateContext(
                        clinic_name=clinic.name, clinic_phone=number or "",
                        time_zone=clinic.time_zone, first_name=patient.first_name,
                        appointment_at=appointment.starts_at if appointment else None,
                        provider=provider, reschedule_link=config.reschedule_link,
                    ),
                    where=f"template (target {n + 1})",
                )  # fmt: skip
            except TemplateError as exc:
                raise CampaignError(str(exc)) from None
            skip = None
            if not patient.phone:
                skip = "no_phone"
            elif patient.sms_opt_out or phone_key(patient.phone) in opted:
                skip = "opted_out"
            sample = sample or (body if skip is None else None)
            if len(rows) < limit:
                initial = f" {patient.last_name[:1]}." if patient.last_name else ""
                rows.append(
                    PreviewRow(patient.id, f"{patient.first_name}{initial}", target.reason, skip)
                )
        will = sum(
            1
            for t in targets
            if patients[t.patient_id].phone
            and not patients[t.patient_id].sms_opt_out
            and phone_key(patients[t.patient_id].phone or "") not in opted
        )
        return Preview(campaign.id, len(targets), will, sample, rows)

    async def start(
        self, clinic_id: str, campaign_id: str, overrides: RunOverrides | None = None
    ) -> Campaign:
        """Create the campaign's schedule; without cron or start_at it runs at once."""
        campaign = await self.get(clinic_id, campaign_id)
        if campaign.status in (CampaignStatus.CANCELLED, CampaignStatus.COMPLETED):
            raise CampaignError(f"the campaign is {campaign.status}")
        await self.preview(clinic_id, campaign_id, limit=0)  # refuse a failing template now
        async with self._db.read() as session:
            clinic = await session.get(Clinic, clinic_id)
        assert clinic is not None
        overrides = overrides or RunOverrides()
        action = ScheduleActionStartWorkflow(
            CampaignRunWorkflow.run,
            CampaignRunInput(
                campaign.id, window=overrides.window,
                reply_window_seconds=overrides.reply_window_seconds,
                events_before_continue=overrides.events_before_continue,
            ),
            id=f"{schedule_id(campaign.id)}-run",
            task_queue=self._queue,
        )  # fmt: skip
        spec, state = self._spec(campaign, clinic.time_zone)
        try:
            handle = await self._client.create_schedule(
                schedule_id(campaign.id),
                Schedule(
                    action=action,
                    spec=spec,
                    policy=SchedulePolicy(
                        overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(minutes=10)
                    ),
                    state=state,
                ),
            )
        except ScheduleAlreadyRunningError:
            raise CampaignError("the campaign is already started") from None
        if campaign.cron is None and campaign.start_at is None:
            await handle.trigger(overlap=ScheduleOverlapPolicy.SKIP)
        return await self._set_status(campaign.id, CampaignStatus.SCHEDULED)

    @staticmethod
    def _spec(campaign: Campaign, time_zone: str) -> tuple[ScheduleSpec, ScheduleState]:
        if campaign.cron:
            return (
                ScheduleSpec(cron_expressions=[campaign.cron], time_zone_name=time_zone),
                ScheduleState(note=f"campaign {campaign.id}"),
            )
        if campaign.start_at:
            local = campaign.start_at.astimezone(ZoneInfo(time_zone))
            point = ScheduleCalendarSpec(
                second=[ScheduleRange(local.second)], minute=[ScheduleRange(local.minute)],
                hour=[ScheduleRange(local.hour)], day_of_month=[ScheduleRange(local.day)],
                month=[ScheduleRange(local.month)], year=[ScheduleRange(local.year)],
            )  # fmt: skip
            return (
                ScheduleSpec(calendars=[point], time_zone_name=time_zone),
                ScheduleState(note=f"campaign {campaign.id}", limited_actions=True,
                              remaining_actions=1),
            )  # fmt: skip
        return ScheduleSpec(time_zone_name=time_zone), ScheduleState(note=f"campaign {campaign.id}")

    async def _runs(self, campaign_id: str) -> list[str]:
        """Run workflow ids that may still be going: from the schedule and the targets."""
        ids: set[str] = set()
        with contextlib.suppress(RPCError):
            described = await self._client.get_schedule_handle(schedule_id(campaign_id)).describe()
            ids.update(
                a.workflow_id
                for a in described.info.running_actions
                if isinstance(a, ScheduleActionExecutionStartWorkflow)
            )
        async with self._db.read() as session:
            ids.update(
                (
                    await session.exec(
                        select(OutreachTarget.run_key)
                        .where(OutreachTarget.campaign_id == campaign_id)
                        .distinct()
                    )
                ).all()
            )
        return sorted(ids)

    async def _signal_runs(self, campaign_id: str, signal: str) -> None:
        for run in await self._runs(campaign_id):
            try:
                await self._client.get_workflow_handle(run).signal(signal)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise

    async def _schedule(self, campaign_id: str, action: str) -> None:
        handle = self._client.get_schedule_handle(schedule_id(campaign_id))
        try:
            await getattr(handle, action)()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise

    async def pause(self, clinic_id: str, campaign_id: str) -> Campaign:
        campaign = await self.get(clinic_id, campaign_id)
        if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING):
            raise CampaignError(f"a {campaign.status} campaign cannot be paused")
        await self._schedule(campaign.id, "pause")
        await self._signal_runs(campaign.id, "pause")
        return await self._set_status(campaign.id, CampaignStatus.PAUSED)

    async def resume(self, clinic_id: str, campaign_id: str) -> Campaign:
        campaign = await self.get(clinic_id, campaign_id)
        if campaign.status != CampaignStatus.PAUSED:
            raise CampaignError(f"a {campaign.status} campaign cannot be resumed")
        await self._schedule(campaign.id, "unpause")
        await self._signal_runs(campaign.id, "resume")
        return await self._set_status(campaign.id, CampaignStatus.RUNNING)

    async def cancel(self, clinic_id: str, campaign_id: str) -> Campaign:
        campaign = await self.get(clinic_id, campaign_id)
        if campaign.status in (CampaignStatus.CANCELLED, CampaignStatus.COMPLETED):
            return campaign
        await self._schedule(campaign.id, "delete")
        await self._signal_runs(campaign.id, "cancel")
        return await self._set_status(campaign.id, CampaignStatus.CANCELLED)

    async def _set_status(self, campaign_id: str, status: CampaignStatus) -> Campaign:
        async with self._db.write() as session:
            campaign = await session.get(Campaign, campaign_id)
            assert campaign is not None
            # A run that already started has said "running"; scheduling must not undo that.
            if not (status == CampaignStatus.SCHEDULED and campaign.status != CampaignStatus.DRAFT):
                campaign.status = status
            campaign.updated_at = datetime.now(UTC)
            session.add(campaign)
        return campaign

    async def progress(self, clinic_id: str, campaign_id: str) -> Progress:
        campaign = await self.get(clinic_id, campaign_id)
        async with self._db.read() as session:
            targets = Counter(
                dict(
                    (
                        await session.exec(
                            select(OutreachTarget.status, func.count())
                            .where(OutreachTarget.campaign_id == campaign.id)
                            .group_by(col(OutreachTarget.status))
                        )
                    ).all()
                )
            )
            attempts = (
                await session.exec(
                    select(OutreachAttempt.status, OutreachAttempt.reason, func.count())
                    .where(OutreachAttempt.campaign_id == campaign.id)
                    .group_by(col(OutreachAttempt.status), col(OutreachAttempt.reason))
                )
            ).all()
        by_status: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        for status, reason, n in attempts:
            by_status[str(status)] += n
            if status == AttemptStatus.SKIPPED:
                skipped[reason or "unknown"] += n
        return Progress(
            campaign_id=campaign.id,
            status=str(campaign.status),
            error=campaign.error,
            targets=sum(targets.values()),
            sent=by_status["sent"]
            + by_status["delivered"]
            + by_status["voicemail"]
            + by_status["answered"],
            delivered=by_status["delivered"],
            confirmed=targets["confirmed"],
            rebooked=targets["rebooked"],
            opted_out=targets["opted_out"] + skipped["opted_out"],
            failed=targets["failed"] + by_status["failed"],
            pending=targets["pending"],
            skipped=dict(skipped),
        )
