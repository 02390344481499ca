"""Per-clinic adapter instances for activities, built from the clinic's configuration."""

from __future__ import annotations

import json
from typing import Any

from core.db import Database
from core.models import Clinic
from core.scheduling import NotFound
from core.settings import Settings
from integrations.crm.protocol import CrmAdapter
from integrations.ehr.protocol import EhrAdapter
from integrations.eligibility.protocol import EligibilityChecker
from integrations.messaging.protocol import MessageSender
from integrations.outbound.protocol import Dialer
from integrations.registry import AdapterContext, AdapterRegistry


class ClinicAdapters:
    """Creates each clinic's adapters once per configuration and reuses them.

    A configuration change produces a new cache key, so edits take effect on the next activity
    without restarting the worker.
    """

    def __init__(self, db: Database, settings: Settings, registry: AdapterRegistry | None = None):
        self._context = AdapterContext(db=db, settings=settings)
        self._registry = registry or AdapterRegistry()
        self._cache: dict[tuple[str, str, str], Any] = {}

    @property
    def db(self) -> Database:
        return self._context.db

    async def _get(self, clinic_id: str, kind: str) -> Any:
        async with self.db.read() as session:
            clinic = await session.get(Clinic, clinic_id)
        if clinic is None:
            raise NotFound("unknown clinic")
        choice = clinic.adapters.get(kind)
        key = (clinic_id, kind, json.dumps(choice, sort_keys=True, default=str))
        if key not in self._cache:
            self._cache[key] = self._registry.create(kind, choice, self._context)
        return self._cache[key]

    async def ehr(self, clinic_id: str) -> EhrAdapter:
        adapter: EhrAdapter = await self._get(clinic_id, "ehr")
        return adapter

    async def sms(self, clinic_id: str) -> MessageSender:
        adapter: MessageSender = await self._get(clinic_id, "sms")
        return adapter

    async def email(self, clinic_id: str) -> MessageSender:
        adapter: MessageSender = await self._get(clinic_id, "email")
        return adapter

    async def crm(self, clinic_id: str) -> CrmAdapter:
        adapter: CrmAdapter = await self._get(clinic_id, "crm")
        return adapter

    async def eligibility(self, clinic_id: str) -> EligibilityChecker:
        adapter: EligibilityChecker = await self._get(clinic_id, "eligibility")
        return adapter

    async def dialer(self, clinic_id: str) -> Dialer:
        adapter: Dialer = await self._get(clinic_id, "dialer")
        return adapter
