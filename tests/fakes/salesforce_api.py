"""Salesforce REST API: SOQL query and sObject upsert by external id, for Contact and Task.

``GET /services/data/{v}/query?q=SELECT Id FROM <Object> WHERE <Field> = '<literal>' [OR ...]
[ORDER BY ...] [LIMIT n]`` (string literals unescaped per the SOQL reference) and
``PATCH /services/data/{v}/sobjects/Task/{ExternalIdField}/{value}`` answering 201 on insert,
200 on update (or 204 as before API 46.0, when ``legacy_update`` is set) and 300 when the value
matches several records. Bearer token auth; errors are ``[{"message", "errorCode"}]``.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.fakes import FakeHttpApi

_QUERY = re.compile(
    r"^SELECT Id FROM (?P<object>\w+) WHERE (?P<where>.+?)"
    r"(?: ORDER BY (?P<order>\w+) (?:ASC|DESC))?(?: LIMIT (?P<limit>\d+))?$"
)
_CONDITION = re.compile(r"(\w+) = '((?:[^'\\]|\\.)*)'")
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def unescape_soql(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(1)), literal)


def salesforce_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse([{"message": message, "errorCode": code}], status_code=status)


class FakeSalesforce(FakeHttpApi):
    def __init__(
        self,
        token: str,
        version: str = "v61.0",
        external_id_field: str = "Receptionist_Key__c",
        legacy_update: bool = False,
    ) -> None:
        super().__init__()
        self.token = token
        self.version = version
        self.external_id_field = external_id_field
        self.legacy_update = legacy_update
        self.records: dict[str, dict[str, dict[str, Any]]] = {"Contact": {}, "Task": {}}
        self._ids = itertools.count(1)

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        return self.records["Task"]

    def add_contact(self, **fields: str) -> str:
        contact_id = f"003{next(self._ids):015d}"
        self.records["Contact"][contact_id] = {"Id": contact_id, **fields}
        return contact_id

    def build_app(self) -> FastAPI:
        app = FastAPI()
        base = f"/services/data/{self.version}"

        def unauthorized() -> JSONResponse:
            return salesforce_error(401, "INVALID_SESSION_ID", "Session expired or invalid")

        def authorized(request: Request) -> bool:
            return request.headers.get("authorization") == f"Bearer {self.token}"

        @app.get(f"{base}/query")
        async def query(q: str, request: Request) -> JSONResponse:
            if not authorized(request):
                return unauthorized()
            parsed = _QUERY.match(q)
            if not parsed or parsed["object"] not in self.records:
                return salesforce_error(400, "MALFORMED_QUERY", "unexpected query")
            conditions = [(f, unescape_soql(v)) for f, v in _CONDITION.findall(parsed["where"])]
            table = self.records[parsed["object"]]
            rows = [
                record["Id"]
                for record in sorted(table.values(), key=lambda r: r["Id"])
                if any(record.get(f) == v for f, v in conditions)
            ]
            if parsed["limit"]:
                rows = rows[: int(parsed["limit"])]
            records = [
                {"attributes": {"type": parsed["object"], "url": f"{base}/sobjects/x/{i}"}, "Id": i}
                for i in rows
            ]
            return JSONResponse({"totalSize": len(records), "done": True, "records": records})

        @app.patch(base + "/sobjects/Task/{field}/{value:path}", response_model=None)
        async def upsert_task(field: str, value: str, request: Request) -> Response:
            if not authorized(request):
                return unauthorized()
            if field != self.external_id_field:
                return salesforce_error(
                    404, "NOT_FOUND", f"Provided external ID field does not exist: {field}"
                )
            fields = await request.json()
            if field in fields:
                return salesforce_error(
                    400, "INVALID_FIELD", "external id field must not be in the body"
                )
            matches = [t for t in self.tasks.values() if t.get(field) == value]
            if len(matches) > 1:
                return JSONResponse([f"{base}/sobjects/Task/{t['Id']}" for t in matches], 300)
            if matches:
                matches[0].update(fields)
                if self.legacy_update:
                    return Response(status_code=204)
                body = {"id": matches[0]["Id"], "success": True, "errors": [], "created": False}
                return JSONResponse(body, status_code=200)
            task_id = f"00T{next(self._ids):015d}"
            self.tasks[task_id] = {"Id": task_id, field: value, **fields}
            body = {"id": task_id, "success": True, "errors": [], "created": True}
            return JSONResponse(body, status_code=201)

        return app
