"""FHIR R4 EHR adapter: patients, Slot search / ``$find``, booking by transaction or ``$book``,
reschedule, cancel, schedule pull, and SMART Backend Services or bearer-token auth."""

from integrations.ehr.fhir.adapter import FhirEhr

__all__ = ["FhirEhr"]
