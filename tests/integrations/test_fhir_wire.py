"""Reading what FHIR servers send: vendor extras tolerated, invalid resources refused by path,
and HTTP status + OperationOutcome classified into retry decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.slot import Slot

from integrations.ehr.fhir.client import Capabilities
from integrations.ehr.fhir.outcome import entry_error, error_for
from integrations.ehr.fhir.resources import parse, reference_id
from integrations.errors import NotFoundError, PermanentError, SlotConflict, TransientError

APPOINTMENT: dict[str, Any] = {
    "resourceType": "Appointment",
    "id": "a1",
    "status": "booked",
    "start": "2031-03-04T14:00:00Z",
    "end": "2031-03-04T14:30:00-00:00",
    "participant": [{"actor": {"reference": "Practitioner/p1"}, "status": "accepted"}],
}


def outcome(*codes: str) -> dict[str, Any]:
    issues = [{"severity": "error", "code": c, "diagnostics": "Patient Ana Rivera"} for c in codes]
    return {"resourceType": "OperationOutcome", "issue": issues}


def test_vendor_elements_are_dropped_and_the_rest_validated() -> None:
    vendor = {
        **APPOINTMENT,
        "epicDepartment": {"id": "D1"},
        "participant": [{**APPOINTMENT["participant"][0], "cernerRole": "x"}],
        "meta": {"versionId": "7", "vendorTag": True},
    }
    appointment = parse(Appointment, vendor)
    assert appointment.id == "a1" and appointment.meta and appointment.meta.versionId == "7"
    assert appointment.participant[0].actor.reference == "Practitioner/p1"  # type: ignore[union-attr]
    assert vendor["epicDepartment"] == {"id": "D1"}  # the caller's data is left alone


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"start": "2031-03-04T14:00:00"}, "start"),  # an instant without its offset
        ({"participant": None}, "participant"),
        ({"status": "double-booked"}, "Appointment.status"),
    ],
)
def test_invalid_resources_are_refused_by_path(change: dict[str, Any], path: str) -> None:
    data = {k: v for k, v in {**APPOINTMENT, **change}.items() if v is not None}
    with pytest.raises(PermanentError) as refused:
        parse(Appointment, data)
    assert refused.value.code == "fhir_invalid_resource"
    assert path in str(refused.value)
    assert "Rivera" not in str(refused.value)


def test_wrong_resource_type_is_refused() -> None:
    with pytest.raises(PermanentError, match="expected a FHIR Slot, got Appointment"):
        parse(Slot, APPOINTMENT)


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (503, outcome("exception"), TransientError, "http_503"),
        (429, None, TransientError, "http_429"),
        (400, outcome("throttled"), TransientError, "fhir_throttled"),
        (412, outcome("processing"), SlotConflict, "slot_taken"),
        (409, None, SlotConflict, "slot_taken"),
        (422, outcome("conflict"), SlotConflict, "slot_taken"),
        (404, outcome("not-found"), NotFoundError, "not_found"),
        (410, outcome("deleted"), NotFoundError, "not_found"),
        (400, outcome("invariant", "required"), PermanentError, "fhir_invariant"),
        (422, outcome("business-rule"), PermanentError, "fhir_business-rule"),
        (403, {"error": "not fhir"}, PermanentError, "http_403"),
    ],
)
def test_errors_are_classified(status: int, body: Any, kind: type[Exception], code: str) -> None:
    error = error_for(status, body)
    assert type(error) is kind
    assert error is not None and error.code == code
    assert "Rivera" not in str(error)  # diagnostics never copied


def test_retry_after_is_kept_and_success_is_no_error() -> None:
    error = error_for(503, outcome("transient"), wait=timedelta(seconds=7))
    assert isinstance(error, TransientError) and error.retry_after == timedelta(seconds=7)
    assert error_for(201, outcome("informational")) is None
    assert isinstance(entry_error("412 Precondition Failed", outcome("processing")), SlotConflict)


def test_references_and_capabilities() -> None:
    assert reference_id("Slot/s1", "Slot") == "s1"
    assert reference_id("https://ehr.example/fhir/Slot/s1/_history/3", "Slot") == "s1"
    assert reference_id("Patient/p1", "Slot") is None
    statement = {
        "rest": [
            {
                "mode": "server",
                "operation": [{"name": "everything"}],
                "resource": [{"type": "Appointment", "operation": [{"name": "book"}]}],
            },
            {"mode": "client", "resource": [{"type": "Slot", "operation": [{"name": "x"}]}]},
        ]
    }
    capabilities = Capabilities.from_statement(statement)
    assert capabilities.supports("Appointment/$book") and capabilities.supports("$everything")
    assert not capabilities.supports("Slot/$x")
