"""A small FHIR R4 REST client over httpx: read, search, create, transaction, operations.

Every failure leaves as a classified integration error (``outcome.py``); a 401 drops the cached
token and retries once. Versions travel as weak ETags (``W/"<versionId>"``) for ``If-Match``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import httpx
from fhir.resources.R4B.resource import Resource

from integrations.ehr.fhir.auth import Credentials
from integrations.ehr.fhir.outcome import SYSTEM, classify, entry_error
from integrations.ehr.fhir.resources import parse, to_json
from integrations.errors import PermanentError
from integrations.http import transport_error

FHIR_JSON = "application/fhir+json"
MAX_PAGES = 20

R = TypeVar("R", bound=Resource)


@dataclass(frozen=True)
class Capabilities:
    """What the server's CapabilityStatement declares, reduced to what the adapter uses."""

    operations: frozenset[str] = frozenset()  # "Appointment/$book", "$everything", ...

    @classmethod
    def from_statement(cls, statement: dict[str, Any]) -> Capabilities:
        operations: set[str] = set()
        for rest in statement.get("rest") or []:
            if rest.get("mode", "server") != "server":
                continue
            operations.update(f"${op.get('name')}" for op in rest.get("operation") or [])
            for resource in rest.get("resource") or []:
                kind = resource.get("type")
                operations.update(
                    f"{kind}/${op.get('name')}" for op in resource.get("operation") or []
                )
        return cls(frozenset(operations))

    def supports(self, operation: str) -> bool:
        return operation in self.operations


@dataclass(frozen=True)
class Versioned(Generic[R]):
    resource: R
    etag: str  # W/"<versionId>" for If-Match


@dataclass
class FhirClient:
    base_url: str
    credentials: Credentials
    http: httpx.AsyncClient
    _capabilities: Capabilities | None = field(default=None, init=False)

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = path_or_url if "://" in path_or_url else f"{self.base_url}/{path_or_url}"
        for attempt in (1, 2):
            sent = {"accept": FHIR_JSON, **(headers or {})}
            if body is not None:
                sent["content-type"] = FHIR_JSON
            authorization = await self.credentials.authorization()
            if authorization:
                sent["authorization"] = authorization
            try:
                # No params at all for a next-page URL: httpx would replace its query string.
                query = tuple(params) if params is not None else None
                response = await self.http.request(
                    method, url, params=query, json=body, headers=sent
                )
            except httpx.TransportError as exc:
                raise transport_error(exc, SYSTEM) from None
            if response.status_code == 401 and attempt == 1:
                self.credentials.invalidate()  # an expired or revoked token: fetch one more
                continue
            error = classify(response)
            if error is not None:
                raise error
            return response
        raise AssertionError("unreachable")

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise PermanentError(
                f"{SYSTEM} answered with something other than JSON", code="fhir_invalid_resource"
            ) from None
        if not isinstance(data, dict):
            raise PermanentError(f"{SYSTEM} answered with a non-object", code="fhir_invalid")
        return data

    async def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            response = await self.request("GET", "metadata")
            self._capabilities = Capabilities.from_statement(self._json(response))
        return self._capabilities

    async def read(self, model: type[R], resource_id: str) -> Versioned[R]:
        kind = model.get_resource_type()
        response = await self.request("GET", f"{kind}/{resource_id}")
        resource = parse(model, self._json(response))
        return Versioned(resource, _etag(response, resource))

    async def search(
        self, model: type[R], params: list[tuple[str, str]], *, limit: int = 1000
    ) -> list[Versioned[R]]:
        """Every match (following ``next`` links on the same server), up to ``limit``."""
        kind = model.get_resource_type()
        found: list[Versioned[R]] = []
        url: str | None = kind
        query: list[tuple[str, str]] | None = params
        for _ in range(MAX_PAGES):
            if url is None or len(found) >= limit:
                break
            bundle = self._json(await self.request("GET", url, params=query))
            for entry in bundle.get("entry") or []:
                data = entry.get("resource") or {}
                if (entry.get("search") or {}).get("mode", "match") != "match":
                    continue  # included or outcome entries
                if data.get("resourceType") == kind:
                    found.append(_versioned(model, data))
            url, query = self._next(bundle), None
        return found[:limit]

    def _next(self, bundle: dict[str, Any]) -> str | None:
        server = urlsplit(self.base_url).netloc
        for link in bundle.get("link") or []:
            url = link.get("url")
            # Only follow pages on the server we were configured for.
            if link.get("relation") == "next" and isinstance(url, str):
                return url if urlsplit(url).netloc == server else None
        return None

    async def create(self, resource: R, *, if_none_exist: str | None = None) -> Versioned[R]:
        kind = resource.get_resource_type()
        headers = {"if-none-exist": if_none_exist} if if_none_exist else {}
        headers["prefer"] = "return=representation"
        response = await self.request("POST", kind, body=to_json(resource), headers=headers)
        created = parse(type(resource), self._json(response))
        return Versioned(created, _etag(response, created))

    async def transaction(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run a transaction Bundle; returns the response entries (in request order).

        The whole bundle fails as one: the server's error (412 on a stale ``If-Match``, 409 on
        a conflict) is raised as classified, and nothing in it was applied.
        """
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        answer = self._json(
            await self.request("POST", "", body=bundle, headers={"prefer": "return=representation"})
        )
        results = answer.get("entry") or []
        for result in results:
            response = result.get("response") or {}
            status = str(response.get("status", "200"))
            if not status[:1] == "2":
                raise entry_error(status, response.get("outcome"))
        return list(results)

    async def operation(self, path: str, parameters: dict[str, Any]) -> dict[str, Any]:
        return self._json(await self.request("POST", path, body=parameters))


def _version(resource: Resource) -> str | None:
    meta = getattr(resource, "meta", None)
    return getattr(meta, "versionId", None) if meta is not None else None


def _etag(response: httpx.Response, resource: Resource) -> str:
    header = response.headers.get("etag")
    if header:
        return header if header.startswith("W/") else f"W/{header}"
    version = _version(resource)
    return f'W/"{version}"' if version else ""


def _versioned(model: type[R], data: dict[str, Any]) -> Versioned[R]:
    resource = parse(model, data)
    version = _version(resource)
    return Versioned(resource, f'W/"{version}"' if version else "")
