"""The receptionist's settings, the clinic's phone numbers and its adapters.

Every change is validated as a whole clinic document (see ``clinic_document``) and applies from
the next call on: each call loads the clinic's profile from the database when it connects.
"""

from __future__ import annotations

import re
from datetime import date
from importlib.metadata import entry_points
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field
from sqlmodel import col, select

from adminapi import roles
from adminapi.auth import Principal, clinic_access
from adminapi.clinic_document import Document, editing, load_document
from adminapi.deps import Services, config_refused
from core.clinic_config import ClinicConfigError
from core.models import ClinicPhoneNumber
from integrations.registry import BUILTIN, ENTRY_POINT_GROUP, KINDS

AdapterKind = Literal["ehr", "sms", "email", "crm", "eligibility"]
# Setting names that hold credentials: accepted, stored, never returned.
_SECRET = re.compile(r"(secret|token|password|passwd|api_?key|auth|credential|private)", re.I)
SECRET_SET = "set"  # what is shown instead of a stored secret; sending it back keeps the secret


class Holiday(BaseModel):
    day: date
    name: str = Field(min_length=1, max_length=120)


class AgentSettings(BaseModel):
    """What the receptionist says and does (business hours are local time, HH:MM pairs)."""

    name: str
    time_zone: str
    specialty: Literal["dental", "medical"]
    address: str
    agent_name: str
    greeting: str
    voice: str
    max_call_seconds: int
    transfer_number: str
    emergency_number: str
    emergency_instructions: str
    business_hours: dict[str, list[list[str]]]
    holidays: list[Holiday]
    faq: dict[str, str]
    accepted_insurance: list[str]
    slot_step_minutes: int
    min_notice_minutes: int
    booking_horizon_days: int


class AgentSettingsChange(BaseModel):
    """Only the fields given change; each is validated as in the clinic configuration."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    time_zone: str | None = None
    specialty: Literal["dental", "medical"] | None = None
    address: str | None = Field(default=None, max_length=400)
    agent_name: str | None = Field(default=None, min_length=1, max_length=64)
    greeting: str | None = Field(default=None, max_length=500)
    voice: str | None = Field(default=None, max_length=128)
    max_call_seconds: int | None = None
    transfer_number: str | None = Field(default=None, max_length=32)
    emergency_number: str | None = Field(default=None, max_length=32)
    emergency_instructions: str | None = Field(default=None, max_length=1000)
    business_hours: dict[str, list[list[str]]] | None = None
    holidays: list[Holiday] | None = None
    faq: dict[str, Annotated[str, Field(max_length=2000)]] | None = None
    accepted_insurance: list[Annotated[str, Field(max_length=120)]] | None = None
    slot_step_minutes: int | None = None
    min_notice_minutes: int | None = None
    booking_horizon_days: int | None = None


class PhoneNumbers(BaseModel):
    numbers: list[str] = Field(description="E.164 numbers that ring this clinic")


class Adapter(BaseModel):
    name: str
    settings: dict[str, Any] = Field(
        description=f'secrets are shown as "{SECRET_SET}"; send "{SECRET_SET}" to keep one'
    )


class AdapterChoice(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    settings: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class AdapterCatalog(BaseModel):
    configured: dict[str, Adapter]
    available: dict[str, list[str]]


def _settings_out(doc: Document) -> AgentSettings:
    return AgentSettings.model_validate({k: doc[k] for k in AgentSettings.model_fields})


def _masked(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: SECRET_SET if _SECRET.search(k) and v else v for k, v in settings.items()}


def available_adapters(kind: str) -> list[str]:
    installed = {point.name.partition(".")[2] for point in entry_points(group=ENTRY_POINT_GROUP)
                 if point.name.startswith(f"{kind}.")}  # fmt: skip
    return sorted(set(BUILTIN[kind]) | installed)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/clinics/{clinic_id}", tags=["settings"])

    @router.get("/settings", response_model=AgentSettings)
    async def get_settings(
        clinic_id: str,
        services: Services,
        _: Annotated[Principal, Depends(clinic_access(*roles.READ_SETTINGS))],
    ) -> AgentSettings:
        async with services.db.read() as session:
            return _settings_out(await load_document(session, clinic_id))

    @router.patch("/settings", response_model=AgentSettings)
    async def change_settings(
        clinic_id: str,
        body: AgentSettingsChange,
        services: Services,
        _: Annotated[Principal, Depends(clinic_access(*roles.WRITE_SETTINGS))],
    ) -> AgentSettings:
        """Change the receptionist's settings; the next call uses them."""
        # null means "leave as is", like an omitted field: none of these settings is optional.
        change = body.model_dump(exclude_unset=True, exclude_none=True, mode="json")
        try:
            async with editing(services.db, clinic_id) as doc:
                doc.update(change)
        except ClinicConfigError as exc:
            raise config_refused(exc) from None
        async with services.db.read() as session:
            return _settings_out(await load_document(session, clinic_id))

    @router.get("/phone-numbers", response_model=PhoneNumbers)
    async def get_numbers(
        clinic_id: str,
        services: Services,
        _: Annotated[Principal, Depends(clinic_access(*roles.READ_SETTINGS))],
    ) -> PhoneNumbers:
        async with services.db.read() as session:
            return PhoneNumbers(numbers=(await load_document(session, clinic_id))["phone_numbers"])

    @router.put(
        "/phone-numbers",
        response_model=PhoneNumbers,
        responses={409: {"description": "a number rings another clinic"}},
    )
    async def set_numbers(
        clinic_id: str,
        body: PhoneNumbers,
        services: Services,
        _: Annotated[Principal, Depends(clinic_access(*roles.WRITE_SETTINGS))],
    ) -> PhoneNumbers:
        """Replace the numbers that ring this clinic."""
        numbers = sorted(set(body.numbers))
        async with services.db.read() as session:
            taken = (
                await session.exec(
                    select(ClinicPhoneNumber).where(
                        col(ClinicPhoneNumber.e164).in_(numbers),
                        ClinicPhoneNumber.clinic_id != clinic_id,
                    )
                )
            ).first()
        if taken is not None:
            # Says only that the number is taken, not by whom.
            raise HTTPException(status.HTTP_409_CONFLICT, f"{taken.e164} is already in use")
        try:
            async with editing(services.db, clinic_id) as doc:
                doc["phone_numbers"] = numbers
        except ClinicConfigError as exc:
            raise config_refused(exc) from None
        return PhoneNumbers(numbers=numbers)

    @router.get("/adapters", response_model=AdapterCatalog)
    async def get_adapters(
        clinic_id: str,
        services: Services,
        _: Annotated[Principal, Depends(clinic_access(*roles.ADAPTERS))],
    ) -> AdapterCatalog:
        """The adapter chosen per kind (secrets shown as "set") and those installed."""
        async with services.db.read() as session:
            doc = await load_document(session, clinic_id)
        configured = {
            kind: Adapter(name=choice.get("name", ""), settings=_masked(choice.get("settings", {})))
            for kind, choice in doc["adapters"].items()
        }
        return AdapterCatalog(
            configured=configured, available={kind: available_adapters(kind) for kind in KINDS}
        )

    @router.put("/adapters/{kind}", response_model=Adapter)
    async def set_adapter(
        clinic_id: str,
        kind: AdapterKind,
        body: AdapterChoice,
        services: Services,
        _: Annotated[Principal, Depends(clinic_access(*roles.ADAPTERS))],
    ) -> Adapter:
        """Choose the adapter for ``kind`` and its settings. Secrets are write-only: a value of
        "set" keeps the stored one."""
        if body.name not in available_adapters(kind):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"no {kind} adapter named {body.name!r}; installed: "
                + ", ".join(available_adapters(kind)),
            )
        try:
            async with editing(services.db, clinic_id) as doc:
                before = doc["adapters"].get(kind, {}).get("settings", {})
                settings = {
                    key: before.get(key) if value == SECRET_SET else value
                    for key, value in body.settings.items()
                }
                doc["adapters"] = {
                    **doc["adapters"],
                    kind: {"name": body.name, "settings": settings},
                }
        except ClinicConfigError as exc:
            raise config_refused(exc) from None
        return Adapter(name=body.name, settings=_masked(settings))

    return router
