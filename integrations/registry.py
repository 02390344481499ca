"""Adapters by kind and name, chosen per clinic in configuration.

Built-in adapters register below; third parties ship a package exposing an entry point in the
group ``receptionist.adapters`` named ``<kind>.<name>`` (e.g. ``ehr.acme``) that points at a
factory. No edit to workflows, activities or the voice loop is needed to add one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from core.db import Database
from core.settings import Settings

ENTRY_POINT_GROUP = "receptionist.adapters"
KINDS = ("ehr", "sms", "email", "crm", "eligibility", "dialer")


@dataclass(frozen=True)
class AdapterContext:
    """What a factory may use: the local database and process settings (for secrets)."""

    db: Database
    settings: Settings


Factory = Callable[[dict[str, Any], AdapterContext], Any]

# Built-ins as "module:attribute", imported on first use so unused SDKs are never loaded.
BUILTIN: dict[str, dict[str, str]] = {
    "ehr": {
        "local": "integrations.ehr.local:LocalEhr",
        "fhir": "integrations.ehr.fhir:FhirEhr",
        "hl7": "integrations.ehr.hl7.adapter:Hl7Ehr",
    },
    "sms": {
        "outbox": "integrations.messaging.outbox:OutboxSender",
        "twilio": "integrations.messaging.twilio_sms:TwilioSmsSender",
    },
    "email": {
        "outbox": "integrations.messaging.outbox:OutboxSender",
        "smtp": "integrations.messaging.smtp:SmtpSender",
    },
    "crm": {
        "local": "integrations.crm.local:LocalCrm",
        "hubspot": "integrations.crm.hubspot:HubSpotCrm",
        "salesforce": "integrations.crm.salesforce:SalesforceCrm",
    },
    "eligibility": {
        "local": "integrations.eligibility.local:LocalEligibility",
        "clearinghouse": "integrations.eligibility.clearinghouse:ClearinghouseEligibility",
    },
    "dialer": {
        "local": "integrations.outbound.local:LocalDialer",
        "twilio": "integrations.outbound.twilio_voice:TwilioDialer",
    },
}
DEFAULTS = {
    "ehr": "local",
    "sms": "outbox",
    "email": "outbox",
    "crm": "local",
    "eligibility": "local",
    "dialer": "local",
}


class UnknownAdapter(LookupError):
    pass


def _load(target: str) -> Factory:
    module, _, attribute = target.partition(":")
    factory: Factory = getattr(importlib.import_module(module), attribute)
    return factory


@dataclass
class AdapterRegistry:
    extra: dict[str, dict[str, Factory]] = field(default_factory=dict)

    def register(self, kind: str, name: str, factory: Factory) -> None:
        """Register at run time (tests, embedding applications)."""
        self.extra.setdefault(kind, {})[name] = factory

    def factory(self, kind: str, name: str) -> Factory:
        if kind not in KINDS:
            raise UnknownAdapter(f"unknown adapter kind {kind!r}; kinds: {', '.join(KINDS)}")
        if name in self.extra.get(kind, {}):
            return self.extra[kind][name]
        if name in BUILTIN[kind]:
            return _load(BUILTIN[kind][name])
        for point in entry_points(group=ENTRY_POINT_GROUP, name=f"{kind}.{name}"):
            loaded: Factory = point.load()
            return loaded
        raise UnknownAdapter(f"no {kind} adapter named {name!r} is installed")

    def create(self, kind: str, choice: dict[str, Any] | None, context: AdapterContext) -> Any:
        choice = choice or {}
        name = choice.get("name") or DEFAULTS[kind]
        return self.factory(kind, name)(dict(choice.get("settings") or {}), context)
