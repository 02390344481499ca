"""The remote codec endpoint for the Temporal UI and CLI (``/codec/encode``, ``/codec/decode``).

Temporal's codec server protocol: POST a JSON body ``{"payloads": [<Payload as protobuf JSON>]}``
and get the same shape back. The UI calls it from the browser, so the endpoint answers CORS
preflights for the configured UI origin only, and every request must carry
``Authorization: Bearer <RECEPTIONIST_CODEC_TOKEN>``: decrypted payloads are PHI, for authorised
staff only, and each decode is audited. Without a configured token the endpoint is off (404),
never open.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from core.db import Database
from core.security import audit
from core.security.crypto import DecryptionError
from core.security.payload_codec import EncryptionCodec
from core.settings import Settings

log = logging.getLogger(__name__)
_ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


def _cors(settings: Settings) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": settings.codec_cors_origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
        "Vary": "Origin",
    }


def _authorise(settings: Settings, request: Request) -> None:
    if not settings.codec_token:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the codec endpoint is not enabled")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token, settings.codec_token):
        log.warning("codec request refused", extra={"path": request.url.path})
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "bearer token required",
            headers={"WWW-Authenticate": "Bearer", **_cors(settings)},
        )  # fmt: skip


async def _payloads(request: Request) -> list[Payload]:
    try:
        body = await request.json()
        return [json_format.ParseDict(p, Payload()) for p in body["payloads"]]
    except (ValueError, KeyError, TypeError, json_format.ParseError) as exc:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f'expected {{"payloads": [...]}} ({exc})'
        ) from None


def _answer(settings: Settings, payloads: list[Payload]) -> JSONResponse:
    return JSONResponse(
        {"payloads": [json_format.MessageToDict(p) for p in payloads]}, headers=_cors(settings)
    )


def build_router(settings: Settings, db: Database) -> APIRouter:
    router = APIRouter(prefix="/codec", tags=["operations"])
    codec = EncryptionCodec()

    @router.options("/{operation}")
    async def preflight(operation: str) -> Response:
        return Response(status_code=204, headers=_cors(settings))

    @router.post("/encode")
    async def encode(request: Request) -> JSONResponse:
        _authorise(settings, request)
        return _answer(settings, await codec.encode(await _payloads(request)))

    @router.post("/decode")
    async def decode(request: Request) -> JSONResponse:
        _authorise(settings, request)
        try:
            decoded = await codec.decode(await _payloads(request))
        except DecryptionError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
        await audit.record(
            db,
            actor="codec-token",
            role="operator",
            clinic_id=None,
            action=audit.Action.READ,
            record_type="temporal_payload",
            record_id=request.headers.get("x-namespace", "")[:64],
            source_ip=request.client.host if request.client else None,
            detail={"payloads": len(decoded)},
        )
        return _answer(settings, decoded)

    return router
