"""Activities of a campaign run: snapshot and check the targets, page them, record the end."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import classified
from activities.outreach import TEMPLATE_ERROR
from core.campaigns.config import load_outreach_config
from core.campaigns.targets import ABOUT_APPOINTMENTS, Target, find_targets
from core.campaigns.templates import BUILTIN, TemplateContext, TemplateError, check_template, render
from core.db import Database
from core.models import (
    Appointment,
    Campaign,
    CampaignStatus,
    Clinic,
    ClinicPhoneNumber,
    OutreachTarget,
    Patient,
    Provider,
    TargetStatus,
)
from core.scheduling import NotFound
from workflows.outreach_types import (
    PagedTarget,
    PageInput,
    PreparedRun,
    PrepareInput,
    RunFinished,
    RunSettings,
)

KIND = {
    "hygiene_recall": "recall",
    "unconfirmed_tomorrow": "confirm",
    "no_shows_last_week": "no_show",
}
BATCH = 500


class CampaignActivities:
    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="prepare_campaign_run")
    @classified
    async def prepare_campaign_run(self, request: PrepareInput) -> PreparedRun:
        """Snapshot this run's targets and render the message for every one of them: a
        template that cannot render fails the run here, before anything is sent."""
        now = datetime.now(UTC)
        async with self._db.read() as session:
            campaign = await session.get(Campaign, request.campaign_id)
            if campaign is None:
                raise NotFound("unknown campaign")
            clinic = await session.get(Clinic, campaign.clinic_id)
            assert clinic is not None
            config = await load_outreach_config(session, clinic.id)
            existing = (
                await session.exec(
                    select(func.count())
                    .select_from(OutreachTarget)
                    .where(OutreachTarget.run_key == request.run_key)
                )
            ).one()
            number = (
                await session.exec(
                    select(ClinicPhoneNumber.e164).where(ClinicPhoneNumber.clinic_id == clinic.id)
                )
            ).first()
            targets = (
                []
                if existing
                else await find_targets(
                    session, clinic, campaign.audience, config, now, campaign.max_targets
                )
            )
            voicemail = config.templates.get("voicemail") or BUILTIN["voicemail"]
            try:
                appointments = campaign.audience in ABOUT_APPOINTMENTS
                check_template(
                    campaign.template, where="campaign template", appointments=appointments
                )
                if campaign.channel != "sms":
                    check_template(voicemail, where="voicemail template", appointments=appointments)
                await self._render_all(session, clinic, number or "", config.reschedule_link,
                                       campaign.template, targets)  # fmt: skip
            except TemplateError as exc:
                raise ApplicationError(str(exc), type=TEMPLATE_ERROR, non_retryable=True) from None
        rows = [
            OutreachTarget(
                clinic_id=clinic.id,
                campaign_id=campaign.id,
                run_key=request.run_key,
                seq=n,
                patient_id=t.patient_id,
                appointment_id=t.appointment_id,
                reason=t.reason,
            )
            for n, t in enumerate(targets)
        ]
        for start in range(0, len(rows), BATCH):
            async with self._db.write() as session:
                session.add_all(rows[start : start + BATCH])
            activity.heartbeat(start)
        async with self._db.write() as session:
            stored = await session.get(Campaign, campaign.id)
            assert stored is not None
            # Staff may have paused or cancelled it while the targets were taken: keep that.
            if stored.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
                stored.status, stored.error, stored.updated_at = CampaignStatus.RUNNING, None, now
                session.add(stored)
        window = request.window
        return PreparedRun(
            RunSettings(
                campaign_id=campaign.id,
                clinic_id=clinic.id,
                channel=campaign.channel,  # type: ignore[arg-type]
                kind=KIND.get(campaign.audience, "recall"),  # type: ignore[arg-type]
                template=campaign.template,
                window=window,
                reply_window_seconds=request.reply_window_seconds
                or config.reply_window_hours * 3600,
                voicemail_template=voicemail,
                in_flight=campaign.window,
            ),
            total=existing or len(rows),
        )

    async def _render_all(
        self,
        session: AsyncSession,
        clinic: Clinic,
        phone: str,
        link: str,
        template: str,
        targets: list[Target],
    ) -> None:
        patients = {
            p.id: p
            for p in (
                await session.exec(
                    select(Patient).where(col(Patient.id).in_([t.patient_id for t in targets]))
                )
            ).all()
        } if targets else {}  # fmt: skip
        appointment_ids = [t.appointment_id for t in targets if t.appointment_id]
        appointments = {
            a.id: (a, name)
            for a, name in (
                await session.exec(
                    select(Appointment, Provider.name)
                    .join(Provider, col(Provider.id) == Appointment.provider_id)
                    .where(col(Appointment.id).in_(appointment_ids))
                )
            ).all()
        } if appointment_ids else {}  # fmt: skip
        for n, target in enumerate(targets):
            appointment, provider = appointments.get(target.appointment_id or "", (None, ""))
            render(
                template,
                TemplateContext(
                    clinic_name=clinic.name, clinic_phone=phone, time_zone=clinic.time_zone,
                    first_name=patients[target.patient_id].first_name,
                    appointment_at=appointment.starts_at if appointment else None,
                    provider=provider, reschedule_link=link,
                ),
                where=f"campaign template (target {n + 1})",
            )  # fmt: skip

    @activity.defn(name="load_run_targets")
    @classified
    async def load_run_targets(self, request: PageInput) -> list[PagedTarget]:
        async with self._db.read() as session:
            rows = await session.exec(
                select(OutreachTarget)
                .where(
                    OutreachTarget.run_key == request.run_key,
                    OutreachTarget.seq >= request.from_seq,
                )
                .order_by(col(OutreachTarget.seq))
                .limit(request.limit)
            )
            return [PagedTarget(t.id, t.seq, t.patient_id, t.appointment_id) for t in rows.all()]

    @activity.defn(name="finish_campaign_run")
    @classified
    async def finish_campaign_run(self, request: RunFinished) -> None:
        now = datetime.now(UTC)
        async with self._db.write() as session:
            campaign = await session.get(Campaign, request.campaign_id)
            if campaign is None:
                return
            if request.status == "cancelled":
                await session.exec(
                    update(OutreachTarget)
                    .where(
                        col(OutreachTarget.run_key) == request.run_key,
                        col(OutreachTarget.status) == TargetStatus.PENDING,
                    )
                    .values(status=TargetStatus.CANCELLED, updated_at=now)
                )
            if request.status == "failed":
                campaign.status, campaign.error = CampaignStatus.FAILED, (request.error or "")[:500]
            elif request.status == "cancelled" or campaign.status == CampaignStatus.CANCELLED:
                campaign.status = CampaignStatus.CANCELLED
            elif campaign.cron:  # recurring: back to waiting for the next run
                campaign.status = CampaignStatus.SCHEDULED
            else:
                campaign.status = CampaignStatus.COMPLETED
            campaign.updated_at = now
            session.add(campaign)
