"""A clinic's configuration as one validated document, and how it is written to the database.

Clinics are onboarded from a JSON file (``receptionist seed --config clinic.json``) and edited
through the admin API; both go through ``ClinicConfig`` so a bad value is refused with a message
naming the field (``providers.0.weekly.mon.1: overlaps 08:00-12:00``) before anything is stored.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.campaigns.config import OutreachConfig
from core.models import (
    AppointmentType,
    AppointmentTypeProvider,
    Clinic,
    ClinicHoliday,
    ClinicPhoneNumber,
    OutreachSettings,
    Provider,
    ProviderSchedule,
    ScheduleException,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class ClinicConfigError(ValueError):
    """Configuration refused; ``errors`` lists (field path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> ClinicConfigError:
        errors = []
        for err in exc.errors():
            path = ".".join(str(part) for part in err["loc"]) or "config"
            message = str(err["msg"]).removeprefix("Value error, ")
            errors.append((path, message))
        return cls(errors)


def _parse_hhmm(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a time of day (HH:MM)") from exc


class Interval(BaseModel):
    """A local-time interval within one day, written ``["08:00", "12:00"]``."""

    start: time
    end: time

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("an interval is a pair [start, end]")
            return {"start": _parse_hhmm(value[0]), "end": _parse_hhmm(value[1])}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.end <= self.start:
            raise ValueError(f"ends ({self.end:%H:%M}) before it starts ({self.start:%H:%M})")
        return self

    def as_pair(self) -> list[str]:
        return [f"{self.start:%H:%M}", f"{self.end:%H:%M}"]


WeeklyHours = dict[str, list[Interval]]


def _check_week(week: WeeklyHours) -> WeeklyHours:
    for day, intervals in week.items():
        if day not in WEEKDAYS:
            raise ValueError(f"unknown weekday {day!r}; use one of {', '.join(WEEKDAYS)}")
        ordered = sorted(intervals, key=lambda i: i.start)
        for before, after in itertools.pairwise(ordered):
            if after.start < before.end:
                raise ValueError(
                    f"{day}: {after.start:%H:%M}-{after.end:%H:%M} overlaps "
                    f"{before.start:%H:%M}-{before.end:%H:%M}"
                )
    return week


class TimeOff(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: datetime
    ends_at: datetime
    reason: str = ""
    available: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> TimeOff:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("give times with their UTC offset, e.g. 2026-12-24T12:00:00-05:00")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends before it starts")
        return self


class ProviderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=120)
    title: str = ""
    weekly: WeeklyHours = Field(default_factory=dict)
    time_off: list[TimeOff] = Field(default_factory=list)
    external_ehr_id: str | None = None

    _week = field_validator("weekly")(_check_week)


class AppointmentTypeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")
    name: str = Field(min_length=1, max_length=120)
    duration_minutes: Annotated[int, Field(gt=0, le=8 * 60)]
    buffer_after_minutes: Annotated[int, Field(ge=0, le=240)] = 0
    new_patients_only: bool = False
    providers: list[str] = Field(min_length=1)
    synonyms: list[str] = Field(default_factory=list)


class HolidayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date
    name: str = Field(min_length=1, max_length=120)


class AdapterChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "local"
    settings: dict[str, Any] = Field(default_factory=dict)


class PronunciationDictionaryRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    version_id: str = Field(min_length=1, max_length=64)


class EnginesConfig(BaseModel):
    """Which speech and conversation engines the clinic's calls use (embedded defaults: offline).

    Cloud engines need their provider key in the process settings; without it a call falls
    back to the embedded engine (logged). ``on_llm_failure`` decides what a caller gets when
    Claude fails within a turn: the RuleAgent carries on, or an apology and a transfer.
    """

    model_config = ConfigDict(extra="forbid")

    stt: Literal["deepgram", "offline"] = "offline"
    agent: Literal["claude", "rule"] = "rule"
    tts: Literal["elevenlabs", "flite"] = "flite"
    summary: Literal["claude", "rule"] = "rule"
    on_llm_failure: Literal["rule_agent", "transfer"] = "rule_agent"
    claude_model: str | None = Field(default=None, min_length=1, max_length=100)
    claude_max_tokens: Annotated[int, Field(gt=0, le=4096)] | None = None
    # ElevenLabs speaks with the clinic's ``voice`` (a voice id). Aliases fix how names and
    # terms are said ({"Nguyen": "Win"}); dictionaries are ElevenLabs pronunciation dictionaries.
    pronunciations: dict[str, str] = Field(default_factory=dict, max_length=200)
    pronunciation_dictionaries: list[PronunciationDictionaryRef] = Field(
        default_factory=list, max_length=3
    )

    @field_validator("pronunciations")
    @classmethod
    def _aliases(cls, value: dict[str, str]) -> dict[str, str]:
        for word, spoken in value.items():
            if not 0 < len(word.strip()) <= 64 or not 0 < len(spoken.strip()) <= 200:
                raise ValueError(f"{word!r}: give a word (≤ 64 chars) and how to say it (≤ 200)")
        return value


# Stored with the adapter choices (a JSON column) under this key: no schema change.
ENGINES_KEY = "engines"


def clinic_engines(clinic: Clinic) -> EnginesConfig:
    """The clinic's engine choice as stored by ``apply_clinic_config``."""
    return EnginesConfig.model_validate((clinic.adapters or {}).get(ENGINES_KEY) or {})


class ClinicConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9\-]+$")
    name: str = Field(min_length=1, max_length=200)
    time_zone: str
    specialty: Literal["dental", "medical"] = "dental"
    address: str = ""
    phone_numbers: list[str] = Field(default_factory=list)
    agent_name: str = "Ava"
    greeting: str = ""
    voice: str = ""
    max_call_seconds: Annotated[int, Field(ge=60, le=4 * 3600)] = 900
    transfer_number: str = ""
    emergency_number: str = ""
    emergency_instructions: str = ""
    business_hours: WeeklyHours = Field(default_factory=dict)
    holidays: list[HolidayConfig] = Field(default_factory=list)
    faq: dict[str, str] = Field(default_factory=dict)
    accepted_insurance: list[str] = Field(default_factory=list)
    adapters: dict[str, AdapterChoice] = Field(default_factory=dict)
    engines: EnginesConfig = Field(default_factory=EnginesConfig)
    slot_step_minutes: Annotated[int, Field(gt=0, le=240)] = 15
    grid_minutes: Annotated[int, Field(gt=0, le=60)] = 5

    @field_validator("grid_minutes")
    @classmethod
    def _divides_hour(cls, value: int) -> int:
        if 60 % value:
            raise ValueError("must divide 60 (e.g. 5, 10, 15)")
        return value

    min_notice_minutes: Annotated[int, Field(ge=0)] = 60
    booking_horizon_days: Annotated[int, Field(gt=0, le=730)] = 90
    hold_ttl_seconds: Annotated[int, Field(ge=30, le=3600)] = 300
    # Days kept before the retention purge deletes them (docs/security.md).
    recording_retention_days: Annotated[int, Field(ge=1, le=36500)] = 90
    transcript_retention_days: Annotated[int, Field(ge=1, le=36500)] = 2190
    providers: list[ProviderConfig] = Field(default_factory=list)
    appointment_types: list[AppointmentTypeConfig] = Field(default_factory=list)
    outreach: OutreachConfig = Field(default_factory=OutreachConfig)

    _week = field_validator("business_hours")(_check_week)

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as America/New_York)"
            ) from exc
        return value

    @field_validator("phone_numbers", "transfer_number", "emergency_number")
    @classmethod
    def _e164(cls, value: list[str] | str) -> list[str] | str:
        for number in [value] if isinstance(value, str) else value:
            if number and not _E164.match(number):
                raise ValueError(f"{number!r} is not an E.164 number (e.g. +15551234567)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ClinicConfig:
        errors: list[str] = []
        keys = [p.key for p in self.providers]
        if len(set(keys)) != len(keys):
            errors.append("providers: duplicate provider key")
        codes = [t.code for t in self.appointment_types]
        if len(set(codes)) != len(codes):
            errors.append("appointment_types: duplicate code")
        for i, kind in enumerate(self.appointment_types):
            for key in kind.providers:
                if key not in keys:
                    errors.append(f"appointment_types.{i}.providers: unknown provider {key!r}")
            for field in ("duration_minutes", "buffer_after_minutes"):
                if getattr(kind, field) % self.grid_minutes:
                    errors.append(
                        f"appointment_types.{i}.{field}: must be a multiple of grid_minutes "
                        f"({self.grid_minutes})"
                    )
        if ENGINES_KEY in self.adapters:
            errors.append(f"adapters.{ENGINES_KEY}: reserved; choose engines in 'engines'")
        if self.slot_step_minutes % self.grid_minutes:
            errors.append("slot_step_minutes: must be a multiple of grid_minutes")
        if errors:
            raise ValueError("; ".join(errors))
        return self


def parse_clinic_config(data: dict[str, Any]) -> ClinicConfig:
    """Validate raw configuration, raising ``ClinicConfigError`` with field paths."""
    try:
        return ClinicConfig.model_validate(data)
    except ValidationError as exc:
        raise ClinicConfigError.from_validation_error(exc) from None


_CLINIC_FIELDS = (
    "name",
    "time_zone",
    "specialty",
    "address",
    "agent_name",
    "greeting",
    "voice",
    "max_call_seconds",
    "transfer_number",
    "emergency_number",
    "emergency_instructions",
    "faq",
    "accepted_insurance",
    "slot_step_minutes",
    "grid_minutes",
    "min_notice_minutes",
    "booking_horizon_days",
    "hold_ttl_seconds",
    "recording_retention_days",
    "transcript_retention_days",
)


async def apply_clinic_config(session: AsyncSession, config: ClinicConfig) -> Clinic:
    """Create or update the clinic ``config.slug`` and everything it owns.

    Providers and appointment types are matched by key/code so their ids (which appointments
    reference) survive an update; their schedules, links, holidays and numbers are replaced.
    """
    clinic = (await session.exec(select(Clinic).where(Clinic.slug == config.slug))).first()
    if clinic is None:
        clinic = Clinic(slug=config.slug, name=config.name, time_zone=config.time_zone)
    for field in _CLINIC_FIELDS:
        setattr(clinic, field, getattr(config, field))
    clinic.business_hours = {
        day: [i.as_pair() for i in intervals] for day, intervals in config.business_hours.items()
    }
    clinic.adapters = {kind: choice.model_dump() for kind, choice in config.adapters.items()}
    if engines := config.engines.model_dump(exclude_defaults=True):
        clinic.adapters[ENGINES_KEY] = engines
    session.add(clinic)
    await session.flush()

    await session.exec(delete(ClinicHoliday).where(col(ClinicHoliday.clinic_id) == clinic.id))
    await session.exec(
        delete(ClinicPhoneNumber).where(col(ClinicPhoneNumber.clinic_id) == clinic.id)
    )
    await session.flush()
    for holiday in config.holidays:
        session.add(ClinicHoliday(clinic_id=clinic.id, day=holiday.day, name=holiday.name))
    for number in config.phone_numbers:
        session.add(ClinicPhoneNumber(clinic_id=clinic.id, e164=number))
    await session.merge(
        OutreachSettings(clinic_id=clinic.id, config=config.outreach.model_dump(mode="json"))
    )

    existing = {
        p.key: p
        for p in (await session.exec(select(Provider).where(Provider.clinic_id == clinic.id))).all()
    }
    provider_ids: dict[str, str] = {}
    for pc in config.providers:
        provider = existing.pop(pc.key, None) or Provider(
            clinic_id=clinic.id, key=pc.key, name=pc.name
        )
        provider.name, provider.title, provider.active = pc.name, pc.title, True
        provider.external_ehr_id = pc.external_ehr_id
        session.add(provider)
        await session.flush()
        provider_ids[pc.key] = provider.id
        await session.exec(
            delete(ProviderSchedule).where(col(ProviderSchedule.provider_id) == provider.id)
        )
        await session.exec(
            delete(ScheduleException).where(col(ScheduleException.provider_id) == provider.id)
        )
        for day, intervals in pc.weekly.items():
            for interval in intervals:
                session.add(
                    ProviderSchedule(
                        provider_id=provider.id,
                        weekday=WEEKDAYS.index(day),
                        start_time=interval.start,
                        end_time=interval.end,
                    )
                )
        for off in pc.time_off:
            session.add(
                ScheduleException(
                    provider_id=provider.id,
                    starts_at=off.starts_at,
                    ends_at=off.ends_at,
                    available=off.available,
                    reason=off.reason,
                )
            )
    for leftover in existing.values():
        leftover.active = False  # appointments still point at it; never delete
        session.add(leftover)

    kinds = {
        t.code: t
        for t in (
            await session.exec(
                select(AppointmentType).where(AppointmentType.clinic_id == clinic.id)
            )
        ).all()
    }
    for tc in config.appointment_types:
        kind = kinds.pop(tc.code, None) or AppointmentType(
            clinic_id=clinic.id, code=tc.code, name=tc.name, duration_minutes=tc.duration_minutes
        )
        kind.name, kind.duration_minutes = tc.name, tc.duration_minutes
        kind.buffer_after_minutes, kind.new_patients_only = (
            tc.buffer_after_minutes,
            tc.new_patients_only,
        )
        kind.synonyms, kind.active = tc.synonyms, True
        session.add(kind)
        await session.flush()
        await session.exec(
            delete(AppointmentTypeProvider).where(
                col(AppointmentTypeProvider.appointment_type_id) == kind.id
            )
        )
        for key in tc.providers:
            session.add(
                AppointmentTypeProvider(appointment_type_id=kind.id, provider_id=provider_ids[key])
            )
    for leftover_kind in kinds.values():
        leftover_kind.active = False
        session.add(leftover_kind)
    await session.flush()
    return clinic
