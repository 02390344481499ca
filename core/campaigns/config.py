"""A clinic's outreach settings: part of its configuration document (``"outreach": {...}``)."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlmodel.ext.asyncio.session import AsyncSession

from core.models.outreach import OutreachSettings

Channel = Literal["sms", "voice", "sms_then_voice"]


class ReminderRule(BaseModel):
    """One appointment reminder: ``before_hours`` ahead of the start, by ``channel``."""

    model_config = ConfigDict(extra="forbid")

    before_hours: Annotated[float, Field(gt=0, le=24 * 30)]
    channel: Literal["sms", "voice"] = "sms"


class OutreachConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The patient's local hours (the clinic's zone) when messages may go out: [from, until).
    # Outside them is quiet time: a message waits for the next window, it is never dropped.
    send_from: time = time(8, 0)
    send_until: time = time(20, 0)
    max_per_day: Annotated[int, Field(ge=1, le=10)] = 1
    max_per_week: Annotated[int, Field(ge=1, le=20)] = 3
    sms_per_minute: Annotated[int, Field(ge=1, le=6000)] = 60
    calls_per_minute: Annotated[int, Field(ge=1, le=600)] = 10
    reminders: list[ReminderRule] = Field(
        default_factory=lambda: [ReminderRule(before_hours=72), ReminderRule(before_hours=24)]
    )
    # Overrides of the built-in templates by name (see core.campaigns.templates.BUILTIN).
    templates: dict[str, str] = Field(default_factory=dict)
    reschedule_link: str = ""  # sent on an "R" reply; empty: staff call the patient back
    reply_window_hours: Annotated[float, Field(gt=0, le=24 * 14)] = 48
    recall_months: Annotated[int, Field(ge=1, le=36)] = 6
    recall_types: list[str] = Field(default_factory=lambda: ["cleaning"])  # hygiene visit codes

    @field_validator("templates")
    @classmethod
    def _templates_render(cls, value: dict[str, str]) -> dict[str, str]:
        from core.campaigns.templates import check_template

        for name, text in value.items():
            check_template(text, where=f"templates.{name}")
        return value

    @model_validator(mode="after")
    def _window(self) -> OutreachConfig:
        if self.send_until <= self.send_from:
            raise ValueError("send_until must be after send_from (e.g. 08:00 to 20:00)")
        return self


async def load_outreach_config(session: AsyncSession, clinic_id: str) -> OutreachConfig:
    """The clinic's outreach settings; the defaults when it never configured any."""
    row = await session.get(OutreachSettings, clinic_id)
    return OutreachConfig.model_validate(row.config if row else {})
