"""The edge refuses what it must: forged Twilio requests, floods, framing, unauthorised decoding."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from temporalio.api.common.v1 import Payload

from api import create_app
from core.db import Database
from core.demo.seed import SeedReport
from core.models import Clinic, Role
from core.security import audit, crypto
from core.settings import Settings
from realtime.twilio_security import InsecureConfiguration, sign
from tests.security.phi import PHONE
from tests.support.accounts import create_account

TOKEN = "twilio-test-token-0123456789"
CODEC_TOKEN = "codec-token-for-the-ui"
BASE = "http://testserver"


def app_settings(url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url, "data_dir": tmp_path, "twilio_auth_token": TOKEN,
        "public_base_url": BASE, "temporal_address": "127.0.0.1:1", "codec_token": CODEC_TOKEN,
    }  # fmt: skip
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def voice_form(call_sid: str = "CAforged000000000000000000000001") -> dict[str, str]:
    return {"CallSid": call_sid, "From": PHONE, "To": "+12075550100", "Direction": "inbound"}


def test_forged_and_unsigned_webhooks_are_refused(sqlite_url: str, tmp_path: Path) -> None:
    form = voice_form()
    with TestClient(create_app(app_settings(sqlite_url, tmp_path))) as client:
        forged = sign("not-the-auth-token", f"{BASE}/twilio/voice", form)
        for headers in ({"X-Twilio-Signature": forged}, {}):
            assert client.post("/twilio/voice", data=form, headers=headers).status_code == 403
        status = {"CallSid": form["CallSid"], "CallStatus": "completed"}
        bad = {"X-Twilio-Signature": sign(TOKEN, f"{BASE}/twilio/status", {"CallStatus": "x"})}
        assert client.post("/twilio/status", data=status, headers=bad).status_code == 403
        # A signature over other parameters does not carry over to these.
        tampered = dict(form, From="+15550000000")
        good = {"X-Twilio-Signature": sign(TOKEN, f"{BASE}/twilio/voice", form)}
        assert client.post("/twilio/voice", data=tampered, headers=good).status_code == 403
        # The media stream refuses an upgrade without a valid signature, before accepting it.
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect(
                "/twilio/media/some-token", headers={"X-Twilio-Signature": forged}
            ),
        ):
            pass
        assert closed.value.code == 1008


def _routes(routes: list[Any]) -> list[Any]:
    """Every route, including those of included routers (kept whole by recent FastAPI)."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        found.extend(_routes(inner.routes) if inner is not None else [route])
    return found


def test_every_twilio_route_demands_a_signature(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(app_settings(sqlite_url, tmp_path))
    checked = []
    with TestClient(app) as client:
        for route in _routes(app.routes):
            path = getattr(route, "path", "")
            if not path.startswith("/twilio/"):
                continue
            url = re.sub(r"\{[^}]+\}", "CAx0", path)
            if isinstance(route, APIWebSocketRoute):
                with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url):
                    pass
                assert closed.value.code == 1008, path
            else:
                assert client.post(url, data=voice_form()).status_code == 403, path
            checked.append(path)
    assert {"/twilio/voice", "/twilio/status", "/twilio/media/{token}"} <= set(checked)


def test_webhooks_are_rate_limited_per_address(sqlite_url: str, tmp_path: Path) -> None:
    settings = app_settings(sqlite_url, tmp_path, webhook_rate_per_minute=6)
    with TestClient(create_app(settings)) as client:
        answers = [client.post("/twilio/status", data={}).status_code for _ in range(5)]
    assert answers[:3] == [403, 403, 403]  # burst of per_minute / 2, then refused
    assert answers[3:] == [429, 429]


def test_security_headers(sqlite_url: str, tmp_path: Path) -> None:
    with TestClient(create_app(app_settings(sqlite_url, tmp_path))) as client:
        plain = client.get("/healthz")
        secure = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        docs = client.get("/docs")
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert plain.headers["x-frame-options"] == "DENY"
    assert plain.headers["referrer-policy"] == "no-referrer"
    csp = plain.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
    assert "strict-transport-security" not in plain.headers
    assert secure.headers["strict-transport-security"].startswith("max-age=")
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]


def test_relaxed_signatures_are_refused_outside_local_development(
    sqlite_url: str, tmp_path: Path
) -> None:
    with pytest.raises(InsecureConfiguration):
        create_app(app_settings(sqlite_url, tmp_path, insecure_skip_twilio_signature=True))
    local = app_settings(
        sqlite_url, tmp_path, insecure_skip_twilio_signature=True, twilio_auth_token=None,
        public_base_url=None,
    )  # fmt: skip
    with TestClient(create_app(local)) as client:  # accepted, and announced (see the log)
        response = client.post("/twilio/voice", data=voice_form())
    assert response.status_code == 200  # unknown number: a polite TwiML answer


def _payload_json(payload: Payload) -> dict[str, object]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


async def test_codec_endpoint_decodes_for_the_bearer_only_and_is_audited(
    sqlite_url: str, tmp_path: Path
) -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"phone": "+12075550111"}')
    auth = {"Authorization": f"Bearer {CODEC_TOKEN}", "X-Namespace": "default"}
    settings = app_settings(sqlite_url, tmp_path)
    with TestClient(create_app(settings)) as client:
        encoded = client.post(
            "/codec/encode", json={"payloads": [_payload_json(plain)]}, headers=auth
        )
        assert encoded.status_code == 200
        sealed = encoded.json()["payloads"][0]
        assert b"+1207" not in base64.b64decode(sealed["data"])
        assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            refused = client.post("/codec/decode", json={"payloads": [sealed]}, headers=headers)
            assert refused.status_code == 401
        decoded = client.post("/codec/decode", json={"payloads": [sealed]}, headers=auth)
        assert decoded.status_code == 200
        assert base64.b64decode(decoded.json()["payloads"][0]["data"]) == plain.data
        assert decoded.headers["access-control-allow-origin"] == settings.codec_cors_origin
        preflight = client.options(
            "/codec/decode",
            headers={"Origin": settings.codec_cors_origin, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 204
        assert "Authorization" in preflight.headers["access-control-allow-headers"]
        bad = client.post("/codec/decode", json={"nope": 1}, headers=auth)
        assert bad.status_code == 400
    database = Database(sqlite_url)
    try:
        now = datetime.now(UTC)
        events = await audit.export(database, now - timedelta(minutes=1), now, None)
    finally:
        await database.dispose()
    assert [(e["actor"], e["record_type"], e["detail"]) for e in events] == [
        ("codec-token", "temporal_payload", {"payloads": 1})
    ]


def test_codec_endpoint_is_off_without_a_token(sqlite_url: str, tmp_path: Path) -> None:
    with TestClient(create_app(app_settings(sqlite_url, tmp_path, codec_token=None))) as client:
        response = client.post(
            "/codec/decode", json={"payloads": []}, headers={"Authorization": "Bearer x"}
        )
    assert response.status_code == 404


async def test_no_get_route_returns_a_secret(
    db: Database, database_url: str, demo: SeedReport, tmp_path: Path
) -> None:
    ring = crypto.keyring()  # the process's keys: the most valuable secret of all
    adapter_secret = "adapter-secret-0123456789"
    async with db.write() as session:
        clinic = await session.get(Clinic, demo.clinic_id)
        assert clinic is not None
        clinic.adapters = {
            **clinic.adapters,
            "crm": {"name": "hubspot", "settings": {"access_token": adapter_secret}},
        }
        session.add(clinic)
    settings = app_settings(database_url, tmp_path, smtp_password="smtp-pw-secret")
    secrets = [TOKEN, CODEC_TOKEN, "smtp-pw-secret", adapter_secret, ring.active]
    secrets += [base64.b64encode(k).decode() for k in (*ring.keys.values(), ring.index_key)]
    admin = await create_account(db, demo.clinic_id, Role.ADMIN)
    operator = await create_account(db, None, Role.OPERATOR)
    app = create_app(settings)
    checked = 0
    with TestClient(app, raise_server_exceptions=False) as client:
        for route in _routes(app.routes):
            path = getattr(route, "path", "")
            if "GET" not in getattr(route, "methods", ()) or path.startswith("/dashboard"):
                continue
            url = path.replace("{clinic_id}", demo.clinic_id)
            url = re.sub(r"\{[^}]+\}", "no-such-id", url)
            for account in (admin, operator):
                response = client.get(url, headers=account.headers, params={"once": "true"})
                assert not [s for s in secrets if s in response.text], (url, response.text[:200])
                checked += 1
    assert checked > 20
