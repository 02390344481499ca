"""Call notes on HubSpot contacts, through the HubSpot CRM REST API with a private-app token.

Per-clinic settings, falling back to the process settings (``hubspot_*``): ``access_token``
(required), ``base_url`` (``https://api.hubapi.com``), and settings only: ``note_key_property``
(``receptionist_note_key``), ``timeout_seconds`` (15).

The portal needs a custom note property named by ``note_key_property`` with "unique values"
on, so a retried write updates the note it made instead of adding a second one. Calls made
(all with ``Authorization: Bearer <token>``):

1. Find the contact, oldest match wins (filter groups are ORed)::

     POST /crm/v3/objects/contacts/search
     {"filterGroups": [{"filters": [{"propertyName": "phone", "operator": "EQ", "value": ...}]},
                       {"filters": [{"propertyName": "mobilephone", ...}]},
                       {"filters": [{"propertyName": "email", ...}]}],
      "properties": ["email", "phone", "mobilephone"],
      "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}], "limit": 1}
     -> {"total": n, "results": [{"id": "...", "properties": {...}}]}

2. Create or update the note by its key::

     POST /crm/v3/objects/notes/batch/upsert
     {"inputs": [{"idProperty": "receptionist_note_key", "id": <external_key>,
                  "properties": {"hs_timestamp": <ISO 8601>, "hs_note_body": <HTML>,
                                 "receptionist_note_key": <external_key>}}]}
     -> 200 {"status": "COMPLETE", "results": [{"id": "...", "new": true, ...}]}
        (207 with "errors" when an input was rejected)

3. When a contact was found, attach the note with the default association type::

     PUT /crm/v4/objects/notes/{noteId}/associations/default/contacts/{contactId}

Docs: developers.hubspot.com/docs/api-reference (CRM search, "Create or update a batch of
notes by unique property values", associations v4 "default" association).
"""

from __future__ import annotations

import html
from datetime import UTC
from typing import Any

import httpx

from integrations.crm.protocol import CrmNote
from integrations.errors import PermanentError
from integrations.http import raise_for_status, transport_error
from integrations.registry import AdapterContext

SYSTEM = "hubspot"


def note_html(note: CrmNote) -> str:
    """HubSpot renders ``hs_note_body`` as HTML: escape the text, keep its line breaks."""
    body = html.escape(note.body).replace("\n", "<br>")
    return f"<p><strong>{html.escape(note.subject)}</strong></p><p>{body}</p>"


class HubSpotCrm:
    """Writes call notes to HubSpot idempotently; see the module docstring for the calls."""

    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        token = settings.get("access_token") or context.settings.hubspot_access_token
        if not token:
            raise PermanentError("hubspot adapter needs an access_token", code="hubspot_auth")
        self._token: str = token
        self._base_url = str(settings.get("base_url") or context.settings.hubspot_base_url)
        self._key_property = str(settings.get("note_key_property", "receptionist_note_key"))
        self._timeout = float(settings.get("timeout_seconds", 15))

    async def write_note(self, note: CrmNote) -> str:
        async with httpx.AsyncClient(
            base_url=self._base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=self._timeout,
        ) as client:
            contact_id = await self._find_contact(client, note)
            note_id = await self._upsert_note(client, note)
            if contact_id:
                await _call(
                    client,
                    "PUT",
                    f"/crm/v4/objects/notes/{note_id}/associations/default/contacts/{contact_id}",
                )
        return note_id

    async def _find_contact(self, client: httpx.AsyncClient, note: CrmNote) -> str | None:
        lookups = []
        if note.patient_phone:
            lookups += [("phone", note.patient_phone), ("mobilephone", note.patient_phone)]
        if note.patient_email:
            lookups.append(("email", note.patient_email))
        if not lookups:
            return None
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": name, "operator": "EQ", "value": value}]}
                for name, value in lookups
            ],
            "properties": ["email", "phone", "mobilephone"],
            "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
            "limit": 1,
        }
        found = await _call(client, "POST", "/crm/v3/objects/contacts/search", body)
        results = found.get("results") or []
        return str(results[0]["id"]) if results else None

    async def _upsert_note(self, client: httpx.AsyncClient, note: CrmNote) -> str:
        occurred = note.occurred_at
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=UTC)
        properties = {
            "hs_timestamp": occurred.astimezone(UTC).isoformat(timespec="milliseconds"),
            "hs_note_body": note_html(note),
            self._key_property: note.external_key,
        }
        body = {
            "inputs": [
                {
                    "idProperty": self._key_property,
                    "id": note.external_key,
                    "properties": properties,
                }
            ]
        }
        answer = await _call(client, "POST", "/crm/v3/objects/notes/batch/upsert", body)
        results = answer.get("results") or []
        if answer.get("errors") or not results:
            category = str((answer.get("errors") or [{}])[0].get("category") or "rejected")
            raise PermanentError(
                f"{SYSTEM} rejected the note upsert ({category})",
                code=f"hubspot_{category.lower()}",
            )
        return str(results[0]["id"])


async def _call(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    try:
        response = await client.request(method, path, json=body)
    except httpx.TransportError as exc:
        raise transport_error(exc, SYSTEM) from None
    raise_for_status(response, SYSTEM)
    if not response.content:
        return {}
    try:
        payload = response.json()
    except ValueError:
        raise PermanentError(
            f"{SYSTEM} answered with unreadable JSON", code="bad_response"
        ) from None
    return payload if isinstance(payload, dict) else {}
