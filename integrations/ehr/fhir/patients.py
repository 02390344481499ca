"""Finding the caller's Patient in the EHR, or registering them.

Order: the id we already know; our own identifier (a patient we registered before); name +
birth date, narrowed by phone when several match; otherwise a conditional create keyed on our
patient id, so a retried activity finds the patient it created instead of making a twin.
Several candidates that the phone cannot tell apart are refused: booking into the wrong chart
is worse than a staff follow-up.
"""

from __future__ import annotations

import re
from datetime import date

from fhir.resources.R4B.contactpoint import ContactPoint
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.patient import Patient

from integrations.ehr.fhir.client import FhirClient, Versioned
from integrations.ehr.fhir.config import PATIENT_ID_SYSTEM
from integrations.ehr.protocol import EhrPatient
from integrations.errors import PermanentError


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")[-10:]


def _names(patient: Patient) -> set[tuple[str, str]]:
    return {
        (given.casefold(), (name.family or "").casefold())
        for name in patient.name or []
        for given in name.given or []
        if given
    }


def _phones(patient: Patient) -> set[str]:
    return {_digits(t.value) for t in patient.telecom or [] if t.system in (None, "phone", "sms")}


def matches(candidate: Patient, wanted: EhrPatient) -> bool:
    """Exact (case-insensitive) first and last name and the same birth date."""
    name = (wanted.first_name.strip().casefold(), wanted.last_name.strip().casefold())
    return name in _names(candidate) and str(candidate.birthDate) == wanted.date_of_birth


def new_patient(wanted: EhrPatient) -> Patient:
    return Patient.model_validate(
        {
            "identifier": [Identifier(system=PATIENT_ID_SYSTEM, value=wanted.local_id)],
            "active": True,
            "name": [
                HumanName(
                    use="official", family=wanted.last_name.strip(), given=[wanted.first_name]
                )
            ],
            "birthDate": date.fromisoformat(wanted.date_of_birth),
            "telecom": (
                [ContactPoint(system="phone", value=wanted.phone, use="mobile")]
                if wanted.phone
                else None
            ),
        }
    )


def _id(patient: Patient) -> str:
    if not patient.id:
        raise PermanentError("the FHIR server returned a Patient without an id", code="fhir")
    return patient.id


async def resolve_patient(client: FhirClient, wanted: EhrPatient) -> str:
    """The EHR's Patient id for ``wanted``, registering the patient when unknown."""
    if wanted.external_id:
        return wanted.external_id
    ours = await client.search(Patient, [("identifier", f"{PATIENT_ID_SYSTEM}|{wanted.local_id}")])
    if len(ours) == 1:
        return _id(ours[0].resource)
    candidates = await client.search(
        Patient,
        [
            ("family", wanted.last_name.strip()),
            ("given", wanted.first_name.strip()),
            ("birthdate", wanted.date_of_birth),
        ],
        limit=50,
    )
    found = [c.resource for c in candidates if matches(c.resource, wanted)]
    if len(found) > 1:
        phone = _digits(wanted.phone)
        by_phone = [p for p in found if phone and phone in _phones(p)]
        if len(by_phone) == 1:
            return _id(by_phone[0])
        raise PermanentError(
            f"{len(found)} EHR patients match the caller's name and birth date",
            code="patient_ambiguous",
        )
    if found:
        return _id(found[0])
    created: Versioned[Patient] = await client.create(
        new_patient(wanted), if_none_exist=f"identifier={PATIENT_ID_SYSTEM}|{wanted.local_id}"
    )
    return _id(created.resource)
