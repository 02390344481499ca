"""Providers (with their weekly schedule and time off) and appointment types.

Both are edited through the clinic document, so a change that would leave the clinic
inconsistent (an appointment type offered by nobody, overlapping hours) is refused with the
field at fault. Removing one deactivates it: past appointments keep pointing at it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlmodel import select

from adminapi import roles
from adminapi.auth import Principal, clinic_access, not_found
from adminapi.clinic_document import Document, editing, load_document
from adminapi.deps import Services, config_refused, conflict
from core.clinic_config import ClinicConfigError
from core.models import AppointmentType, Provider


class TimeOffEntry(BaseModel):
    starts_at: datetime = Field(description="with its UTC offset")
    ends_at: datetime
    reason: str = Field(default="", max_length=200)
    available: bool = Field(default=False, description="true: extra hours instead of time off")


class ProviderIn(BaseModel):
    key: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=120)
    title: str = Field(default="", max_length=64)
    weekly: dict[str, list[list[str]]] = Field(
        default_factory=dict, description='weekday → ["HH:MM", "HH:MM"] intervals, local time'
    )
    time_off: list[TimeOffEntry] = Field(default_factory=list)
    external_ehr_id: str | None = Field(default=None, max_length=128)


class ProviderOut(ProviderIn):
    id: str


class AppointmentTypeIn(BaseModel):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")
    name: str = Field(min_length=1, max_length=120)
    duration_minutes: int = Field(gt=0, le=480)
    buffer_after_minutes: int = Field(default=0, ge=0, le=240)
    new_patients_only: bool = False
    providers: list[str] = Field(min_length=1, description="provider keys")
    synonyms: list[Annotated[str, Field(max_length=120)]] = Field(default_factory=list)


class AppointmentTypeOut(AppointmentTypeIn):
    id: str


async def _ids(services: Services, clinic_id: str, model: Any, field: str) -> dict[str, str]:
    async with services.db.read() as session:
        rows = await session.exec(select(model).where(model.clinic_id == clinic_id))
        return {getattr(row, field): row.id for row in rows if row.active}


def _index(items: list[Document], field: str, value: str) -> int:
    for i, item in enumerate(items):
        if item[field] == value:
            return i
    raise not_found()


async def _key_of(services: Services, model: Any, row_id: str, clinic_id: str, field: str) -> str:
    async with services.db.read() as session:
        row = await session.get(model, row_id)
    if row is None or row.clinic_id != clinic_id or not row.active:
        raise not_found(f"{model.__name__.lower()} not found")
    key: str = getattr(row, field)
    return key


CatalogReader = Annotated[Principal, Depends(clinic_access(*roles.READ_CATALOG))]
CatalogWriter = Annotated[Principal, Depends(clinic_access(*roles.WRITE_CATALOG))]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/clinics/{clinic_id}", tags=["catalog"])

    async def providers_out(services: Services, clinic_id: str) -> list[ProviderOut]:
        async with services.db.read() as session:
            doc = await load_document(session, clinic_id)
        ids = await _ids(services, clinic_id, Provider, "key")
        return [ProviderOut(id=ids[p["key"]], **p) for p in doc["providers"]]

    async def types_out(services: Services, clinic_id: str) -> list[AppointmentTypeOut]:
        async with services.db.read() as session:
            doc = await load_document(session, clinic_id)
        ids = await _ids(services, clinic_id, AppointmentType, "code")
        return [AppointmentTypeOut(id=ids[t["code"]], **t) for t in doc["appointment_types"]]

    async def change(services: Services, clinic_id: str, apply: Any) -> None:
        try:
            async with editing(services.db, clinic_id) as doc:
                apply(doc)
        except ClinicConfigError as exc:
            raise config_refused(exc) from None

    @router.get("/providers", response_model=list[ProviderOut])
    async def list_providers(
        clinic_id: str, services: Services, _: CatalogReader
    ) -> list[ProviderOut]:
        return await providers_out(services, clinic_id)

    @router.post("/providers", response_model=ProviderOut, status_code=201)
    async def add_provider(
        clinic_id: str, body: ProviderIn, services: Services, _: CatalogWriter
    ) -> ProviderOut:
        def apply(doc: Document) -> None:
            if any(p["key"] == body.key for p in doc["providers"]):
                raise conflict(f"a provider with the key {body.key!r} exists")
            doc["providers"].append(body.model_dump(mode="json"))

        await change(services, clinic_id, apply)
        return next(p for p in await providers_out(services, clinic_id) if p.key == body.key)

    @router.put("/providers/{provider_id}", response_model=ProviderOut)
    async def update_provider(
        clinic_id: str, provider_id: str, body: ProviderIn, services: Services, _: CatalogWriter
    ) -> ProviderOut:
        """Replace a provider's details, weekly hours and time off (the key cannot change)."""
        key = await _key_of(services, Provider, provider_id, clinic_id, "key")
        if body.key != key:
            raise conflict("a provider's key cannot change")

        def apply(doc: Document) -> None:
            doc["providers"][_index(doc["providers"], "key", key)] = body.model_dump(mode="json")

        await change(services, clinic_id, apply)
        return next(p for p in await providers_out(services, clinic_id) if p.key == key)

    @router.delete("/providers/{provider_id}", status_code=204)
    async def remove_provider(
        clinic_id: str, provider_id: str, services: Services, _: CatalogWriter
    ) -> Response:
        """Deactivate a provider (refused while an appointment type is offered only by them)."""
        key = await _key_of(services, Provider, provider_id, clinic_id, "key")

        def apply(doc: Document) -> None:
            doc["providers"].pop(_index(doc["providers"], "key", key))
            for kind in doc["appointment_types"]:
                kind["providers"] = [k for k in kind["providers"] if k != key]

        await change(services, clinic_id, apply)
        return Response(status_code=204)

    @router.get("/appointment-types", response_model=list[AppointmentTypeOut])
    async def list_types(
        clinic_id: str, services: Services, _: CatalogReader
    ) -> list[AppointmentTypeOut]:
        return await types_out(services, clinic_id)

    @router.post("/appointment-types", response_model=AppointmentTypeOut, status_code=201)
    async def add_type(
        clinic_id: str, body: AppointmentTypeIn, services: Services, _: CatalogWriter
    ) -> AppointmentTypeOut:
        def apply(doc: Document) -> None:
            if any(t["code"] == body.code for t in doc["appointment_types"]):
                raise conflict(f"an appointment type with the code {body.code!r} exists")
            doc["appointment_types"].append(body.model_dump(mode="json"))

        await change(services, clinic_id, apply)
        return next(t for t in await types_out(services, clinic_id) if t.code == body.code)

    @router.put("/appointment-types/{type_id}", response_model=AppointmentTypeOut)
    async def update_type(
        clinic_id: str, type_id: str, body: AppointmentTypeIn, services: Services, _: CatalogWriter
    ) -> AppointmentTypeOut:
        code = await _key_of(services, AppointmentType, type_id, clinic_id, "code")
        if body.code != code:
            raise conflict("an appointment type's code cannot change")

        def apply(doc: Document) -> None:
            kinds = doc["appointment_types"]
            kinds[_index(kinds, "code", code)] = body.model_dump(mode="json")

        await change(services, clinic_id, apply)
        return next(t for t in await types_out(services, clinic_id) if t.code == code)

    @router.delete("/appointment-types/{type_id}", status_code=204)
    async def remove_type(
        clinic_id: str, type_id: str, services: Services, _: CatalogWriter
    ) -> Response:
        code = await _key_of(services, AppointmentType, type_id, clinic_id, "code")

        def apply(doc: Document) -> None:
            doc["appointment_types"].pop(_index(doc["appointment_types"], "code", code))

        await change(services, clinic_id, apply)
        return Response(status_code=204)

    return router
