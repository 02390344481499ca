"""One HL7 v2 interface's settings: ``adapters.ehr.settings`` of a clinic using ``"hl7"``.

ACK handling is per interface because vendors disagree: the standard says AE is a content error
(no point resending) and AR a rejection that may pass (receiver busy), and some systems use the
codes the other way round; ``on_ae`` / ``on_ar`` say which is which for this peer.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from integrations.ehr.hl7.messages import APPOINTMENT_REASONS
from integrations.errors import PermanentError

AckPolicy = Literal["permanent", "retry"]
SEND_BUDGET_SECONDS = 28.0


class Hl7Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    # Our facility: MSH-4 of what we send, and the MSH-6 that routes inbound SIU to this clinic.
    facility: str = Field(min_length=1, max_length=180)
    application: str = Field(default="RECEPTIONIST", min_length=1, max_length=180)
    remote_application: str = Field(default="PMS", max_length=180)
    remote_facility: str = Field(default="", max_length=180)  # default: same as ``facility``
    version: Literal["2.5", "2.5.1"] = "2.5.1"
    accepted_versions: list[str] = Field(
        default_factory=lambda: ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"], min_length=1
    )
    processing_id: Literal["P", "T", "D"] = "P"
    connect_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    ack_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    max_attempts: int = Field(default=3, ge=1, le=10)
    retry_backoff_seconds: float = Field(default=0.5, ge=0, le=30)
    on_ae: AckPolicy = "permanent"
    on_ar: AckPolicy = "retry"
    # ERR-5 (or ERR-3) codes that mean "that time is taken": the saga then offers other times.
    conflict_codes: list[str] = Field(default_factory=lambda: ["SLOT_TAKEN"])
    location: str = Field(default="MAIN", min_length=1, max_length=80)  # AIL-3
    contact_id: str = Field(default="RECEPTIONIST", min_length=1, max_length=80)  # SCH-16/20
    # Our appointment type code -> SCH-7 reason (HL7 table 0276); the rest are ROUTINE.
    appointment_reasons: dict[str, str] = Field(default_factory=lambda: {"emergency": "EMERGENCY"})

    @field_validator("appointment_reasons")
    @classmethod
    def _hl7_reasons(cls, value: dict[str, str]) -> dict[str, str]:
        for code, reason in value.items():
            if reason not in APPOINTMENT_REASONS:
                raise ValueError(
                    f"{code}: {reason!r} is not in HL7 table 0276 {APPOINTMENT_REASONS}"
                )
        return value

    @model_validator(mode="after")
    def _fits_the_activity(self) -> Hl7Settings:
        # All sends of one activity attempt must end before Temporal gives up on the attempt
        # (workflows/policies.py EXTERNAL: 30 s start-to-close), or retries overlap.
        worst = self.max_attempts * (self.connect_timeout_seconds + self.ack_timeout_seconds)
        worst += self.retry_backoff_seconds * (2 ** (self.max_attempts - 1) - 1)
        if worst > SEND_BUDGET_SECONDS:
            raise ValueError(
                f"max_attempts x (connect + ack timeout) + backoff is {worst:.0f} s; keep it "
                f"under {SEND_BUDGET_SECONDS:.0f} s"
            )
        return self

    @property
    def peer_facility(self) -> str:
        return self.remote_facility or self.facility

    @classmethod
    def load(cls, raw: dict[str, Any]) -> Hl7Settings:
        """Validate a clinic's settings; a bad value is a configuration error, not transient."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: "
                f"{str(err['msg']).removeprefix('Value error, ')}"
                for err in exc.errors()
            )
            raise PermanentError(
                f"HL7 settings refused: {problems}", code="hl7_not_configured"
            ) from None
