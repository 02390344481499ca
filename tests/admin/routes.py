"""The clinic-scoped operations of the real application, read from its OpenAPI document, and
how to fill their path parameters and bodies."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from api import create_app
from core.settings import Settings

CLINIC_PREFIX = "/api/clinics/{clinic_id}"
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    has_body: bool

    @property
    def id(self) -> str:
        return f"{self.method} {self.path.removeprefix(CLINIC_PREFIX) or '/'}"

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    def url(self, ids: dict[str, str], **overrides: str) -> str:
        values = {**ids, **overrides}
        return _PARAM.sub(lambda m: values.get(m.group(1), "no-such-id"), self.path)


@cache
def clinic_operations() -> tuple[Operation, ...]:
    """Every operation under /api/clinics/{clinic_id} in the OpenAPI document."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch), database_url=f"sqlite:///{scratch}/x.db")
        schema = create_app(settings).openapi()
    operations = []
    for path, item in schema["paths"].items():
        if not path.startswith(CLINIC_PREFIX):
            continue
        for method, spec in item.items():
            operations.append(Operation(method.upper(), path, "requestBody" in spec))
    return tuple(sorted(operations, key=lambda o: o.id))


# Bodies that pass validation, for reaching the object-level check of routes that take one.
VALID_BODIES: dict[str, Any] = {
    "PUT /providers/{provider_id}": {"key": "dr-patel", "name": "Dr. Maya Patel"},
    "PUT /appointment-types/{type_id}": {
        "code": "cleaning", "name": "cleaning", "duration_minutes": 60, "providers": ["x"],
    },
    "PATCH /users/{user_id}": {"active": True},
    "POST /appointments/{appointment_id}/cancel": {"reason": "test"},
}  # fmt: skip
