"""Reading FHIR resources leniently at the edge, and writing them strictly.

fhir.resources (R4B models, wire-compatible with R4 for scheduling) forbids unknown keys, and
vendors add their own: those keys are dropped (each drop logged by path, never by value) and
the rest is validated as usual. What remains invalid — a missing ``start``, a naive instant, a
status outside the R4 value set we rely on — is refused with a message naming the paths.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.slot import Slot
from pydantic import ValidationError

from integrations.errors import PermanentError

log = logging.getLogger("integrations.ehr.fhir")

R = TypeVar("R", bound=Resource)

APPOINTMENT_STATUSES = {
    "proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
    "entered-in-error", "checked-in", "waitlist",
}  # fmt: skip
SLOT_STATUSES = {"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"}
_MAX_DROPS = 50


def _drop(data: Any, path: tuple[str | int, ...]) -> bool:
    node = data
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    if isinstance(node, dict) and path and path[-1] in node:
        del node[path[-1]]
        return True
    return False


def parse(model: type[R], data: Any) -> R:
    """``model`` from JSON data, tolerating unknown keys; ``PermanentError`` when invalid."""
    name = model.get_resource_type()
    if not isinstance(data, dict) or data.get("resourceType") != name:
        found = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise PermanentError(f"expected a FHIR {name}, got {found}", code="fhir_invalid_resource")
    data = json.loads(json.dumps(data))  # a private copy to prune
    for _ in range(_MAX_DROPS):
        try:
            resource = model.model_validate(data)
            break
        except ValidationError as exc:
            errors = exc.errors()
            extras = [tuple(e["loc"]) for e in errors if e["type"] == "extra_forbidden"]
            if len(extras) < len(errors) or not any(_drop(data, path) for path in extras):
                problems = ", ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or name} ({e['type']})" for e in errors
                )
                raise PermanentError(
                    f"the FHIR server sent an invalid {name}: {problems}",
                    code="fhir_invalid_resource",
                ) from None
            log.info(
                "fhir unknown elements ignored",
                extra={"resource_type": name, "paths": [".".join(map(str, p)) for p in extras]},
            )
    else:
        raise PermanentError(f"too many unknown elements in a FHIR {name}", code="fhir_invalid")
    _check_codes(resource)
    return resource


def _check_codes(resource: Resource) -> None:
    # fhir.resources does not check required value sets; the statuses drive our decisions.
    if isinstance(resource, Appointment) and resource.status not in APPOINTMENT_STATUSES:
        raise PermanentError("Appointment.status is not an R4 code", code="fhir_invalid_resource")
    if isinstance(resource, Slot) and resource.status not in SLOT_STATUSES:
        raise PermanentError("Slot.status is not an R4 code", code="fhir_invalid_resource")


def to_json(resource: Resource) -> dict[str, Any]:
    """The resource as JSON data for a request body (camelCase keys, no nulls)."""
    data: dict[str, Any] = json.loads(resource.model_dump_json(exclude_none=True))
    return data


def reference_id(reference: str | None, resource_type: str) -> str | None:
    """``"Slot/123"`` (or an absolute URL ending so, or with ``/_history/v``) -> ``"123"``."""
    if not reference:
        return None
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2] == resource_type:
        return parts[-1]
    return None
