"""The CRM protocol: a note about a call on the patient's (or caller's) record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class CrmNote:
    clinic_id: str
    external_key: str  # idempotency key; the note's external id in the CRM
    subject: str  # no PHI: shown in activity feeds
    body: str
    occurred_at: datetime
    patient_id: str | None = None
    patient_phone: str | None = None
    patient_email: str | None = None
    call_sid: str | None = None


class CrmAdapter(Protocol):
    """Writes notes; writing the same ``external_key`` twice leaves one note."""

    async def write_note(self, note: CrmNote) -> str:
        """Returns the CRM's id for the note."""
        ...
