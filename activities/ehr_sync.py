"""Pulling a clinic's schedule from its EHR into the local store.

The activity asks the clinic's EHR adapter (when it is a ``ScheduleSource``) for everything in
[now, now + horizon) for the clinic's mapped providers and applies each appointment through
``core.scheduling.external`` (idempotent; double bookings open their own staff task). What the
local store still holds from this EHR but the EHR no longer returns (deleted, or a blocked Slot
freed) is released. A sync the EHR refuses (bad credentials, an OperationOutcome error) fails
visibly in Temporal and opens one staff task per clinic, error and day.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from temporalio import activity

from activities.adapters import ClinicAdapters
from activities.errors import classified
from core.models import ACTIVE_APPOINTMENT_STATUSES, Appointment, Clinic, Provider, StaffTask
from core.scheduling import SchedulingError
from core.scheduling.external import apply_external_appointment, remove_external_appointment
from integrations.ehr.protocol import ScheduleSource
from integrations.errors import IntegrationError, PermanentError

log = logging.getLogger("activities.ehr_sync")

SYNC_FAILED_TASK = "ehr_sync_failed"


@dataclass(frozen=True)
class SyncInput:
    clinic_id: str


@dataclass(frozen=True)
class SyncResult:
    """What one sync did (counts only: no patient data in workflow history)."""

    pulled: int = 0
    actions: dict[str, int] = field(default_factory=dict)  # created / moved / cancelled / ...
    conflicts: int = 0  # double bookings found (each has a staff task)
    rejected: int = 0  # appointments that could not be applied (e.g. unmapped provider)
    skipped: str | None = None  # why nothing was pulled

    def counts(self) -> dict[str, int]:
        return {"pulled": self.pulled, "conflicts": self.conflicts, "rejected": self.rejected,
                **self.actions}  # fmt: skip


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime


@dataclass
class _Tally:
    actions: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0
    rejected: int = 0


class EhrSyncActivities:
    def __init__(self, adapters: ClinicAdapters) -> None:
        self._adapters = adapters
        self._db = adapters.db

    async def _provider_refs(self, clinic_id: str) -> list[str]:
        async with self._db.read() as session:
            refs = await session.exec(
                select(Provider.external_ehr_id).where(
                    Provider.clinic_id == clinic_id,
                    Provider.active == True,  # noqa: E712
                    col(Provider.external_ehr_id).is_not(None),
                )
            )
            return [ref for ref in refs.all() if ref]

    async def _local_external_ids(self, clinic_id: str, source: str, window: _Window) -> set[str]:
        async with self._db.read() as session:
            rows = await session.exec(
                select(Appointment.external_ehr_id).where(
                    Appointment.clinic_id == clinic_id,
                    Appointment.external_system == source,
                    col(Appointment.status).in_(ACTIVE_APPOINTMENT_STATUSES),
                    col(Appointment.starts_at) >= window.start,
                    col(Appointment.starts_at) < window.end,
                )
            )
            return {ref for ref in rows.all() if ref}

    async def _report_failure(self, clinic_id: str, error: IntegrationError) -> None:
        day = datetime.now(UTC).strftime("%Y%m%d")
        key = f"{SYNC_FAILED_TASK}-{clinic_id}-{error.code}-{day}"
        task = StaffTask(
            clinic_id=clinic_id,
            kind=SYNC_FAILED_TASK,
            title=f"The EHR schedule sync is failing ({error.code})",
            detail=f"{error}. Availability offered to callers may be out of date until fixed.",
            idempotency_key=key,
        )
        with contextlib.suppress(IntegrityError):  # already reported today
            async with self._db.write() as session:
                session.add(task)

    @activity.defn(name="sync_ehr_schedule")
    @classified
    async def sync_ehr_schedule(self, request: SyncInput) -> SyncResult:
        ehr = await self._adapters.ehr(request.clinic_id)
        if not isinstance(ehr, ScheduleSource):
            return SyncResult(skipped="the clinic's EHR adapter cannot be pulled")
        refs = await self._provider_refs(request.clinic_id)
        now = datetime.now(UTC)
        window = _Window(now, now + ehr.sync_horizon)
        try:
            pulled = await ehr.pull_schedule(refs, window.start, window.end)
        except PermanentError as exc:
            await self._report_failure(request.clinic_id, exc)
            raise
        tally = _Tally()
        for change in pulled:
            try:
                result = await apply_external_appointment(self._db, request.clinic_id, change)
            except SchedulingError as exc:
                # One unusable appointment (an unmapped provider) must not stop the others.
                tally.rejected += 1
                log.warning("ehr sync skipped an appointment",
                            extra={"clinic_id": request.clinic_id, "reason": exc.code})  # fmt: skip
                continue
            tally.actions[result.action] += 1
            tally.conflicts += len(result.conflicts)
        seen = {change.external_id for change in pulled}
        for gone in await self._local_external_ids(request.clinic_id, ehr.source, window) - seen:
            await remove_external_appointment(
                self._db, request.clinic_id, ehr.source, gone, reason="gone from the EHR"
            )
            tally.actions["removed"] += 1
        outcome = SyncResult(
            pulled=len(pulled),
            actions=dict(tally.actions),
            conflicts=tally.conflicts,
            rejected=tally.rejected,
        )
        ids = {"clinic_id": request.clinic_id}
        log.info("ehr schedule synced", extra={**ids, "sync": outcome.counts()})
        return outcome


async def clinics_to_sync(adapters: ClinicAdapters) -> list[tuple[str, ScheduleSource]]:
    """Clinics whose EHR adapter can be pulled; a misconfigured one is logged and left out."""
    async with adapters.db.read() as session:
        clinic_ids = (await session.exec(select(Clinic.id))).all()
    found: list[tuple[str, ScheduleSource]] = []
    for clinic_id in clinic_ids:
        try:
            ehr = await adapters.ehr(clinic_id)
        except (IntegrationError, SchedulingError, LookupError) as exc:
            log.warning("ehr sync not scheduled: adapter unusable",
                        extra={"clinic_id": clinic_id, "error": type(exc).__name__})  # fmt: skip
            continue
        if isinstance(ehr, ScheduleSource):
            found.append((clinic_id, ehr))
    return found
