"""Campaigns in the admin API: create, preview (who would be contacted and why), start, pause,
resume, cancel, and live progress. A thin layer over ``durable.campaigns``, as the CLI is."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from temporalio.client import Client

from adminapi import roles
from adminapi.auth import Principal, clinic_access, not_found
from adminapi.deps import Services
from adminapi.phi import audit
from core.db import Database
from core.models import Campaign
from core.settings import Settings
from durable.campaigns import CampaignError, CampaignNotFound, Campaigns, NewCampaign

CAMPAIGN_ROLES = (roles.ADMIN, roles.STAFF)
CampaignUser = Annotated[Principal, Depends(clinic_access(*CAMPAIGN_ROLES))]


class _Services(Protocol):
    settings: Settings
    db: Database

    async def temporal(self) -> Client: ...


async def campaigns_of(request: Request) -> Campaigns:
    services: _Services = request.app.state.services
    return Campaigns(
        await services.temporal(),
        services.db,
        task_queue_prefix=services.settings.task_queue_prefix,
    )


Facade = Annotated[Campaigns, Depends(campaigns_of)]


class CampaignIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    audience: str = Field(description="hygiene_recall | unconfirmed_tomorrow | no_shows_last_week")
    channel: str = Field(default="sms", description="sms | voice | sms_then_voice")
    template: str | None = Field(
        default=None, max_length=1000, description="a template name or the text itself"
    )
    cron: str | None = Field(default=None, description="recurring, in the clinic's time zone")
    start_at: datetime | None = Field(default=None, description="a one-off run at this time")
    max_targets: int = Field(default=10_000, ge=1, le=100_000)
    window: int = Field(default=100, ge=1, le=1000)


class CampaignOut(BaseModel):
    id: str
    name: str
    audience: str
    channel: str
    template: str
    cron: str | None
    start_at: datetime | None
    max_targets: int
    window: int
    status: str
    error: str | None
    created_at: datetime


def _out(campaign: Campaign) -> CampaignOut:
    return CampaignOut.model_validate(campaign, from_attributes=True)


def _refused(exc: CampaignError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/clinics/{clinic_id}/campaigns", tags=["campaigns"])

    @router.get("", response_model=list[CampaignOut])
    async def list_campaigns(clinic_id: str, facade: Facade, _: CampaignUser) -> list[CampaignOut]:
        return [_out(c) for c in await facade.of_clinic(clinic_id)]

    @router.post("", response_model=CampaignOut, status_code=status.HTTP_201_CREATED)
    async def create_campaign(
        clinic_id: str, body: CampaignIn, facade: Facade, principal: CampaignUser
    ) -> CampaignOut:
        """Validated before it is stored: audience, channel, schedule and template."""
        try:
            campaign = await facade.create(
                NewCampaign(clinic_id=clinic_id, created_by=principal.user_id, **body.model_dump())
            )
        except CampaignError as exc:
            raise _refused(exc) from None
        return _out(campaign)

    async def act(clinic_id: str, campaign_id: str, action: Any) -> Any:
        try:
            return await action(clinic_id, campaign_id)
        except CampaignNotFound:
            raise not_found("campaign not found") from None
        except CampaignError as exc:
            raise _refused(exc) from None

    @router.get("/{campaign_id}", response_model=CampaignOut)
    async def get_campaign(
        clinic_id: str, campaign_id: str, facade: Facade, _: CampaignUser
    ) -> CampaignOut:
        return _out(await act(clinic_id, campaign_id, facade.get))

    @router.get("/{campaign_id}/preview")
    async def preview_campaign(
        clinic_id: str,
        campaign_id: str,
        facade: Facade,
        services: Services,
        principal: CampaignUser,
        limit: Annotated[int, Query(ge=0, le=500)] = 50,
    ) -> dict[str, Any]:
        """Who would be contacted now, why, and the first message (nothing is sent)."""

        async def preview(clinic: str, campaign: str) -> Any:
            return await facade.preview(clinic, campaign, limit)

        found = await act(clinic_id, campaign_id, preview)
        # It names patients: each one shown is a PHI read.
        await audit(
            services.db, principal, "read", "patient", [row.patient_id for row in found.rows],
            detail={"via": "campaign_preview", "campaign_id": campaign_id},
        )  # fmt: skip
        return asdict(found)

    @router.get("/{campaign_id}/progress")
    async def campaign_progress(
        clinic_id: str, campaign_id: str, facade: Facade, _: CampaignUser
    ) -> dict[str, Any]:
        """Sent, delivered, confirmed, rebooked, opted out, failed, and skips by reason."""
        return asdict(await act(clinic_id, campaign_id, facade.progress))

    for name in ("start", "pause", "resume", "cancel"):

        def endpoint(name: str = name) -> Any:
            async def change(
                clinic_id: str, campaign_id: str, facade: Facade, _: CampaignUser
            ) -> CampaignOut:
                return _out(await act(clinic_id, campaign_id, getattr(facade, name)))

            change.__name__ = f"{name}_campaign"
            change.__doc__ = f"{name.capitalize()} the campaign."
            return change

        router.add_api_route(
            f"/{{campaign_id}}/{name}", endpoint(), methods=["POST"], response_model=CampaignOut
        )
    return router
