"""A SMART Backend Services authorization server: the OAuth 2.0 token endpoint.

Implements hl7.org/fhir/smart-app-launch/backend-services.html §"Obtaining an access token":
``POST /token`` (form) with ``grant_type=client_credentials``, ``scope``,
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and
``client_assertion`` — a JWT signed RS384 or ES384 with the key registered for the client,
``iss`` = ``sub`` = client id, ``aud`` = this endpoint's URL, ``exp`` at most five minutes
ahead, and a ``jti`` never seen before. Errors follow RFC 6749 §5.2 (``invalid_client``,
``invalid_grant``, ``unsupported_grant_type``) with HTTP 400/401.

Access tokens are HS256 JWTs signed with ``token_secret``, which the FHIR test server checks
(``--token-secret``), as a resource server trusting this authorization server would.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes import FakeHttpApi

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


class FakeSmartAuth(FakeHttpApi):
    def __init__(self, token_secret: str, *, expires_in: int = 300) -> None:
        super().__init__()
        self.token_secret = token_secret
        self.expires_in = expires_in
        # When set, tokens die this many seconds after issue whatever expires_in announced
        # (revoked early), so clients must recover from a 401.
        self.revoke_after: int | None = None
        self.clients: dict[str, str] = {}  # client id -> public key (PEM)
        self.seen_jti: set[str] = set()
        self.issued: list[dict[str, Any]] = []  # claims of every access token issued

    def register(self, client_id: str, public_key_pem: str) -> None:
        self.clients[client_id] = public_key_pem

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def _verify(self, form: dict[str, str]) -> dict[str, Any] | JSONResponse:
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "use client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return oauth_error(400, "invalid_request", "wrong client_assertion_type")
        assertion = form.get("client_assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return oauth_error(400, "invalid_request", "client_assertion is not a JWT")
        client_id = unverified.get("iss")
        key = self.clients.get(str(client_id))
        if key is None or unverified.get("sub") != client_id:
            return oauth_error(401, "invalid_client", "unknown client")
        if header.get("alg") not in ("RS384", "ES384"):
            return oauth_error(401, "invalid_client", "alg must be RS384 or ES384")
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key,
                algorithms=[header["alg"]],
                audience=self.token_url,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.PyJWTError as exc:
            return oauth_error(401, "invalid_client", f"assertion refused: {type(exc).__name__}")
        if claims["exp"] > time.time() + MAX_ASSERTION_LIFETIME + 5:
            return oauth_error(401, "invalid_client", "exp more than five minutes ahead")
        if claims["jti"] in self.seen_jti:
            return oauth_error(401, "invalid_client", "jti replayed")
        self.seen_jti.add(claims["jti"])
        return claims

    def build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/token")
        async def token(request: Request) -> JSONResponse:
            form = {k: str(v) for k, v in (await request.form()).items()}
            verified = self._verify(form)
            if isinstance(verified, JSONResponse):
                return verified
            now = int(time.time())
            claims = {
                "sub": verified["iss"],
                "scope": form.get("scope", ""),
                "iat": now,
                "exp": now + (self.revoke_after or self.expires_in),
                "jti": uuid.uuid4().hex,
            }
            self.issued.append(claims)
            access = jwt.encode(claims, self.token_secret, algorithm="HS256")
            return JSONResponse(
                {
                    "access_token": access,
                    "token_type": "bearer",
                    "expires_in": self.expires_in,
                    "scope": claims["scope"],
                },
                headers={"cache-control": "no-store"},
            )

        return app
