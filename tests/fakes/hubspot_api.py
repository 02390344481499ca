"""HubSpot CRM API: contact search, note batch upsert by a unique property, v4 associations.

``POST /crm/v3/objects/contacts/search`` (filter groups ORed, filters within a group ANDed,
``EQ`` only), ``POST /crm/v3/objects/notes/batch/upsert`` (``idProperty`` must be a property
with unique values, as HubSpot requires), ``PUT /crm/v4/objects/notes/{id}/associations/
default/contacts/{id}`` (note-to-contact default association type 202). Bearer token auth;
errors use HubSpot's ``{"status": "error", "message", "category", "correlationId"}`` shape.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes import FakeHttpApi

NOTE_TO_CONTACT = 202


def hubspot_error(status: int, category: str, message: str) -> JSONResponse:
    body = {
        "status": "error",
        "message": message,
        "category": category,
        "correlationId": str(uuid.uuid4()),
    }
    return JSONResponse(body, status_code=status)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeHubSpot(FakeHttpApi):
    def __init__(self, token: str, unique_property: str = "receptionist_note_key") -> None:
        super().__init__()
        self.token = token
        self.unique_property = unique_property
        self.contacts: dict[str, dict[str, str]] = {}
        self.notes: dict[str, dict[str, Any]] = {}
        self.associations: set[tuple[str, str]] = set()
        self._ids = itertools.count(51_000_000_001)

    def add_contact(self, **properties: str) -> str:
        contact_id = str(next(self._ids))
        self.contacts[contact_id] = {"createdate": _now(), **properties}
        return contact_id

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def build_app(self) -> FastAPI:
        app = FastAPI()
        unauthorized = (401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")

        @app.post("/crm/v3/objects/contacts/search")
        async def search_contacts(request: Request) -> JSONResponse:
            if not self._authorized(request):
                return hubspot_error(*unauthorized)
            query = await request.json()
            groups = query.get("filterGroups") or []

            def matches(properties: dict[str, str]) -> bool:
                return any(
                    all(
                        f["operator"] == "EQ" and properties.get(f["propertyName"]) == f["value"]
                        for f in group["filters"]
                    )
                    for group in groups
                )

            found = sorted(
                (cid for cid, props in self.contacts.items() if matches(props)),
                key=lambda cid: self.contacts[cid]["createdate"],
            )
            limit = int(query.get("limit", 10))
            results = [
                {
                    "id": cid,
                    "properties": {"hs_object_id": cid, **self.contacts[cid]},
                    "archived": False,
                }
                for cid in found[:limit]
            ]
            return JSONResponse({"total": len(found), "results": results})

        @app.post("/crm/v3/objects/notes/batch/upsert")
        async def upsert_notes(request: Request) -> JSONResponse:
            if not self._authorized(request):
                return hubspot_error(*unauthorized)
            results = []
            for item in (await request.json())["inputs"]:
                if item.get("idProperty") != self.unique_property:
                    return hubspot_error(
                        400, "VALIDATION_ERROR", "idProperty must have unique values"
                    )
                properties = item["properties"]
                if "hs_timestamp" not in properties:
                    return hubspot_error(400, "VALIDATION_ERROR", "hs_timestamp is required")
                existing = next(
                    (
                        nid
                        for nid, note in self.notes.items()
                        if note.get(self.unique_property) == item["id"]
                    ),
                    None,
                )
                note_id = existing or str(next(self._ids))
                stored = self.notes.setdefault(note_id, {})
                stored.update(properties)
                stored[self.unique_property] = item["id"]
                results.append(
                    {
                        "id": note_id,
                        "properties": dict(stored),
                        "new": existing is None,
                        "createdAt": _now(),
                        "updatedAt": _now(),
                        "archived": False,
                    }
                )
            return JSONResponse(
                {
                    "status": "COMPLETE",
                    "results": results,
                    "startedAt": _now(),
                    "completedAt": _now(),
                }
            )

        @app.put("/crm/v4/objects/notes/{note_id}/associations/default/contacts/{contact_id}")
        async def associate(note_id: str, contact_id: str, request: Request) -> JSONResponse:
            if not self._authorized(request):
                return hubspot_error(*unauthorized)
            if note_id not in self.notes or contact_id not in self.contacts:
                return hubspot_error(404, "OBJECT_NOT_FOUND", "No such object")
            self.associations.add((note_id, contact_id))
            spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_CONTACT}
            result = {"from": {"id": note_id}, "to": {"id": contact_id}, "associationSpec": spec}
            return JSONResponse(
                {
                    "status": "COMPLETE",
                    "results": [result],
                    "startedAt": _now(),
                    "completedAt": _now(),
                }
            )

        return app
