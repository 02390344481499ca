"""Call notes as completed Salesforce Tasks, through the Salesforce REST API.

Per-clinic settings, falling back to the process settings (``salesforce_*``): ``instance_url``
and ``access_token`` (required; obtaining and refreshing the OAuth token is the deployment's
job), ``api_version`` (``v61.0``), and settings only: ``external_id_field``
(``Receptionist_Key__c``, a unique External ID text field on Task), ``timeout_seconds`` (15).

Calls, all with ``Authorization: Bearer <token>`` under ``{instance_url}/services/data/{v}``:

1. Find the caller's Contact (string literals escaped per the SOQL reference)::

     GET /query?q=SELECT Id FROM Contact WHERE Phone = '...' OR MobilePhone = '...'
                  OR Email = '...' ORDER BY CreatedDate ASC LIMIT 1
     -> {"totalSize": n, "done": true, "records": [{"attributes": {...}, "Id": "003..."}]}

2. Upsert the Task by the note's key (the key is in the path, not the body)::

     PATCH /sobjects/Task/Receptionist_Key__c/{external_key}
     {"Subject": ..., "Description": ..., "Status": "Completed",
      "ActivityDate": "YYYY-MM-DD", "WhoId": "003..."}
     -> 201 {"id": "00T...", "success": true, "errors": [], "created": true}   (inserted)
     -> 200 {"id": "00T...", ..., "created": false}   (updated, API 46.0 and later)
     -> 204 no body   (updated, earlier API versions: the id is queried back)
     -> 300 when the key matches several records

Errors come as ``[{"message": ..., "errorCode": ...}]``; ``REQUEST_LIMIT_EXCEEDED`` (HTTP 403)
is retried later, everything else follows ``integrations.http.raise_for_status``.
Docs: developer.salesforce.com/docs/platform/api-rest ("Insert or Update (Upsert) a Record
Using an External ID", "Execute a SOQL Query") and the SOQL "Quoted String Escape Sequences".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from integrations.crm.protocol import CrmNote
from integrations.errors import PermanentError, TransientError
from integrations.http import raise_for_status, retry_after, transport_error
from integrations.registry import AdapterContext

SYSTEM = "salesforce"
_SOQL_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def soql_string(value: str) -> str:
    """A SOQL string literal holding ``value``."""
    return "'" + "".join(_SOQL_ESCAPES.get(char, char) for char in value) + "'"


class SalesforceCrm:
    """Writes call notes to Salesforce as completed Tasks, idempotently by external id."""

    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        process = context.settings
        instance_url = settings.get("instance_url") or process.salesforce_instance_url
        token = settings.get("access_token") or process.salesforce_access_token
        if not instance_url or not token:
            raise PermanentError(
                "salesforce adapter needs instance_url and access_token",
                code="salesforce_not_configured",
            )
        version = settings.get("api_version") or process.salesforce_api_version
        self._base_url = f"{str(instance_url).rstrip('/')}/services/data/{version}"
        self._token: str = token
        self._key_field = str(settings.get("external_id_field", "Receptionist_Key__c"))
        if not self._key_field.isidentifier():  # it is spliced into SOQL and URL paths
            raise PermanentError(
                "salesforce external_id_field must be a field API name", code="salesforce_config"
            )
        self._timeout = float(settings.get("timeout_seconds", 15))

    async def write_note(self, note: CrmNote) -> str:
        async with httpx.AsyncClient(
            base_url=self._base_url,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=self._timeout,
        ) as client:
            fields: dict[str, Any] = {
                "Subject": note.subject[:255],  # Task.Subject is 255 characters
                "Description": note.body,
                "Status": "Completed",
                "ActivityDate": note.occurred_at.date().isoformat(),
            }
            contact_id = await self._find_contact(client, note)
            if contact_id:
                fields["WhoId"] = contact_id
            path = f"/sobjects/Task/{self._key_field}/{quote(note.external_key, safe='')}"
            response = await _send(client, "PATCH", path, json=fields)
            if response.status_code == 300:
                raise PermanentError(
                    f"{SYSTEM} has several Tasks with one note key", code="salesforce_duplicate_key"
                )
            if response.status_code in (200, 201):
                return str(response.json()["id"])
            return await self._task_id(client, note.external_key)

    async def _find_contact(self, client: httpx.AsyncClient, note: CrmNote) -> str | None:
        clauses = []
        if note.patient_phone:
            phone = soql_string(note.patient_phone)
            clauses += [f"Phone = {phone}", f"MobilePhone = {phone}"]
        if note.patient_email:
            clauses.append(f"Email = {soql_string(note.patient_email)}")
        if not clauses:
            return None
        # Every value in ``clauses`` went through ``soql_string``.
        where = " OR ".join(clauses)
        soql = f"SELECT Id FROM Contact WHERE {where} ORDER BY CreatedDate ASC LIMIT 1"  # noqa: S608
        return await _first_id(client, soql)

    async def _task_id(self, client: httpx.AsyncClient, key: str) -> str:
        soql = f"SELECT Id FROM Task WHERE {self._key_field} = {soql_string(key)} LIMIT 1"  # noqa: S608
        task_id = await _first_id(client, soql)
        if task_id is None:
            raise TransientError(f"{SYSTEM} cannot find the Task it just upserted", code="lagging")
        return task_id


async def _first_id(client: httpx.AsyncClient, soql: str) -> str | None:
    records = (await _send(client, "GET", "/query", params={"q": soql})).json().get("records")
    return str(records[0]["Id"]) if records else None


async def _send(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    # Raised ``from None``: httpx errors quote the URL, and a query URL holds the caller's phone.
    try:
        response = await client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise transport_error(exc, SYSTEM) from None
    if response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in response.text:
        raise TransientError(
            f"{SYSTEM} API request limit exceeded",
            code="salesforce_request_limit",
            retry_after=retry_after(response),
        )
    raise_for_status(response, SYSTEM)
    return response
