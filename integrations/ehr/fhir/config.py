"""The FHIR adapter's per-clinic settings, validated, with secrets resolved by reference.

Clinic configuration (``adapters.ehr``) names the adapter and carries everything but secrets::

    {"name": "fhir", "settings": {
        "base_url": "https://ehr.example.org/fhir/R4",
        "auth": {"type": "smart", "client_id": "receptionist", "key_id": "k1",
                 "algorithm": "RS384", "private_key_env": "ACME_FHIR_KEY",
                 "scope": "system/Appointment.cruds system/Slot.cruds ..."},
        "service_types": {"cleaning": {"system": "http://snomed.info/sct", "code": "..."}},
        "sync_every_minutes": 5, "sync_days": 14}}

Secrets are named, never written in the clinic document: ``private_key_env`` / ``token_env``
(an environment variable holding the PEM key or token) or ``private_key_file`` / ``token_file``.
Without either, the process settings ``RECEPTIONIST_FHIR_PRIVATE_KEY`` /
``RECEPTIONIST_FHIR_BEARER_TOKEN`` are used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.settings import Settings
from integrations.errors import PermanentError

# Our identifier systems: the booking key on Appointment.identifier (idempotency) and our
# patient id on Patient.identifier (so a retried create finds the patient it made).
BOOKING_KEY_SYSTEM = "urn:receptionist:booking-key"
PATIENT_ID_SYSTEM = "urn:receptionist:patient-id"
# Our appointment id, so the schedule sync recognises bookings of ours it pulls back.
LOCAL_APPOINTMENT_SYSTEM = "urn:receptionist:appointment-id"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret(env: str | None, file: str | None, fallback: str | None, what: str) -> str:
    if env:
        value = os.environ.get(env)
        if not value:
            raise PermanentError(
                f"FHIR {what}: environment variable {env} is not set", code="fhir_not_configured"
            )
        return value
    if file:
        try:
            return Path(file).read_text()
        except OSError as exc:
            raise PermanentError(
                f"FHIR {what}: cannot read {file} ({exc.strerror})", code="fhir_not_configured"
            ) from None
    if fallback:
        return fallback
    raise PermanentError(f"FHIR {what} is not configured", code="fhir_not_configured")


class NoAuth(_Strict):
    type: Literal["none"] = "none"


class BearerAuth(_Strict):
    """A static token, for servers that issue one out of band."""

    type: Literal["bearer"]
    token_env: str | None = None
    token_file: str | None = None

    def token(self, settings: Settings) -> str:
        return _secret(self.token_env, self.token_file, settings.fhir_bearer_token, "bearer token")


class SmartAuth(_Strict):
    """SMART Backend Services: client credentials with a signed JWT assertion."""

    type: Literal["smart"]
    client_id: str = Field(min_length=1)
    key_id: str | None = None
    algorithm: Literal["RS384", "ES384"] = "RS384"
    scope: str = "system/Patient.crs system/Schedule.rs system/Slot.crus system/Appointment.crus"
    token_url: str | None = None  # otherwise discovered from .well-known/smart-configuration
    private_key_env: str | None = None
    private_key_file: str | None = None
    # Refresh this long before the token expires, so a request never carries a dying token.
    refresh_margin_seconds: Annotated[int, Field(ge=0, le=600)] = 30

    def private_key(self, settings: Settings) -> str:
        return _secret(
            self.private_key_env, self.private_key_file, settings.fhir_private_key, "private key"
        )


class Coding(_Strict):
    system: str
    code: str
    display: str | None = None


class FhirSettings(_Strict):
    base_url: str = Field(pattern=r"^https?://")
    auth: Annotated[NoAuth | BearerAuth | SmartAuth, Field(discriminator="type")] = NoAuth()
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 15.0
    # Our appointment type code -> the EHR's service type (Slot/Appointment.serviceType).
    service_types: dict[str, Coding] = Field(default_factory=dict)
    # How far back a Slot search looks for a slot that starts before and covers a booking.
    max_slot_hours: Annotated[int, Field(gt=0, le=24)] = 4
    sync_every_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 5
    sync_days: Annotated[int, Field(ge=1, le=90)] = 14
    # IHE/Argonaut operations are used when the CapabilityStatement declares them; set false to
    # force the plain Slot search + transaction path on servers whose operations misbehave.
    use_operations: bool = True

    @model_validator(mode="before")
    @classmethod
    def _no_trailing_slash(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("base_url"), str):
            data = {**data, "base_url": data["base_url"].rstrip("/")}
        return data


def parse_settings(raw: dict[str, Any], process: Settings) -> FhirSettings:
    """Validate clinic settings, falling back to ``RECEPTIONIST_FHIR_BASE_URL``."""
    data = dict(raw)
    if "base_url" not in data and process.fhir_base_url:
        data["base_url"] = process.fhir_base_url
    try:
        return FhirSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise PermanentError(
            f"FHIR settings refused: {problems}", code="fhir_not_configured"
        ) from None
