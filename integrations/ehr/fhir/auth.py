"""Credentials for FHIR requests: none, a static bearer token, or SMART Backend Services.

SMART Backend Services (hl7.org/fhir/smart-app-launch/backend-services.html): the client signs a
short-lived JWT (``iss`` = ``sub`` = client id, ``aud`` = token URL, ``exp`` <= 5 minutes, unique
``jti``; RS384 or ES384 with the registered key's ``kid``) and trades it at the token endpoint
(``grant_type=client_credentials``, ``client_assertion_type=urn:ietf:params:oauth:client-
assertion-type:jwt-bearer``) for an access token. The token is cached and replaced
``refresh_margin_seconds`` before it expires; a 401 from the FHIR server drops it once.
The token endpoint comes from ``token_url`` or ``[base]/.well-known/smart-configuration``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Protocol

import httpx
import jwt

from core.settings import Settings
from integrations.ehr.fhir.config import BearerAuth, FhirSettings, NoAuth, SmartAuth
from integrations.errors import PermanentError
from integrations.http import raise_for_status, transport_error

SYSTEM = "FHIR authorization server"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300  # seconds; the SMART maximum


class Credentials(Protocol):
    """Supplies the Authorization header value for each FHIR request."""

    async def authorization(self) -> str | None: ...

    def invalidate(self) -> None:
        """Forget a cached token (the server refused it)."""
        ...


class Anonymous:
    async def authorization(self) -> str | None:
        return None

    def invalidate(self) -> None:
        return None


class StaticBearer:
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token.strip()}"

    async def authorization(self) -> str | None:
        return self._header

    def invalidate(self) -> None:
        return None  # nothing to refresh: the next request fails the same way, visibly


class SmartBackendServices:
    def __init__(
        self, config: SmartAuth, private_key: str, base_url: str, http: httpx.AsyncClient
    ) -> None:
        self._config = config
        self._key = private_key
        self._base_url = base_url
        self._http = http
        self._token_url = config.token_url
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def client_assertion(self, token_url: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self._config.client_id,
            "sub": self._config.client_id,
            "aud": token_url,
            "exp": now + ASSERTION_LIFETIME,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        headers = {"typ": "JWT", **({"kid": self._config.key_id} if self._config.key_id else {})}
        try:
            return jwt.encode(claims, self._key, algorithm=self._config.algorithm, headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise PermanentError(
                f"cannot sign the SMART client assertion with {self._config.algorithm}: "
                f"{type(exc).__name__}",
                code="fhir_auth_key",
            ) from None

    async def _discover(self) -> str:
        url = f"{self._base_url}/.well-known/smart-configuration"
        try:
            response = await self._http.get(url, headers={"accept": "application/json"})
        except httpx.TransportError as exc:
            raise transport_error(exc, SYSTEM) from None
        raise_for_status(response, SYSTEM)
        endpoint = response.json().get("token_endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise PermanentError(
                "the SMART configuration names no token_endpoint", code="fhir_auth_discovery"
            )
        return endpoint

    async def _fetch(self) -> None:
        if self._token_url is None:
            self._token_url = await self._discover()
        form = {
            "grant_type": "client_credentials",
            "scope": self._config.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.client_assertion(self._token_url),
        }
        try:
            response = await self._http.post(
                self._token_url, data=form, headers={"accept": "application/json"}
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, SYSTEM) from None
        if response.status_code in (400, 401):
            # RFC 6749 §5.2: invalid_client / invalid_grant / invalid_scope. The error code
            # is safe to surface; descriptions may echo client details, so they are not kept.
            code = _oauth_error(response)
            raise PermanentError(f"{SYSTEM} refused the client ({code})", code="fhir_auth_refused")
        raise_for_status(response, SYSTEM)
        body = response.json()
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentError(f"{SYSTEM} answered without an access_token", code="fhir_auth")
        lifetime = float(body.get("expires_in") or ASSERTION_LIFETIME)
        self._token = token
        self._expires_at = time.monotonic() + lifetime

    async def authorization(self) -> str | None:
        async with self._lock:  # one token request at a time, however many callers wait
            fresh_until = self._expires_at - self._config.refresh_margin_seconds
            if self._token is None or time.monotonic() >= fresh_until:
                await self._fetch()
            return f"Bearer {self._token}"

    def invalidate(self) -> None:
        self._token = None


def _oauth_error(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except ValueError:
        return f"HTTP {response.status_code}"
    return error if isinstance(error, str) and error.isascii() else f"HTTP {response.status_code}"


def credentials_for(
    config: FhirSettings, process: Settings, http: httpx.AsyncClient
) -> Credentials:
    auth = config.auth
    if isinstance(auth, NoAuth):
        return Anonymous()
    if isinstance(auth, BearerAuth):
        return StaticBearer(auth.token(process))
    return SmartBackendServices(auth, auth.private_key(process), config.base_url, http)
