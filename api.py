"""The HTTP edge: health now; Twilio webhooks, the media WebSocket and the admin API join it.

State (database, Temporal client) is created in the lifespan and kept on ``app.state``.
Temporal may be down when the API starts: the API still serves, ``/healthz`` says what is
missing, and the client is connected on first use.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client

from adminapi.app import install as install_admin
from adminapi.audit import build_router as build_audit_router
from core.db import Database
from core.security.codec_server import build_router as build_codec_router
from core.security.crypto import keyring
from core.security.headers import SecurityHeaders
from core.settings import Settings, get_settings
from core.temporal import TemporalUnavailable, connect
from durable.calls import CallEvents
from realtime.engines import ClinicEngines, EngineChoice
from realtime.outbound_calls import build_outbound_router
from realtime.sms_replies import build_sms_router
from realtime.telephony import RecordedTelephony, Telephony, TwilioTelephony
from realtime.turns import TurnSettings
from realtime.twilio_edge import build_router
from realtime.twilio_security import announce_signature_mode, webhook_limiter
from realtime.voice_sessions import VoiceSessions


def telephony_for(settings: Settings) -> Telephony:
    if settings.twilio_account_sid and settings.twilio_auth_token:
        return TwilioTelephony(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base_url
        )
    return RecordedTelephony()


class Services:
    """Long-lived dependencies of the API process."""

    def __init__(
        self,
        settings: Settings,
        engines: EngineChoice | None = None,
        turn_settings: TurnSettings | None = None,
    ) -> None:
        self.settings = settings
        self.db = Database(settings.resolved_database_url)
        self._temporal: Client | None = None
        self._temporal_lock = asyncio.Lock()
        self.telephony = telephony_for(settings)
        self.engines = engines or ClinicEngines(settings)
        self.voice = VoiceSessions(
            settings,
            self.db,
            self.temporal,
            self.engines,
            self.telephony,
            turn_settings,
        )

    @property
    def sessions(self) -> VoiceSessions:
        return self.voice

    async def call_events(self) -> CallEvents:
        return CallEvents(await self.temporal(), task_queue_prefix=self.settings.task_queue_prefix)

    async def temporal(self) -> Client:
        async with self._temporal_lock:
            if self._temporal is None:
                self._temporal = await connect(self.settings)
            return self._temporal

    async def close(self) -> None:
        if isinstance(self.engines, ClinicEngines):
            await self.engines.aclose()
        await self.db.dispose()


async def _check(probe: asyncio.Future[object] | object, timeout: float = 2.0) -> str:
    try:
        await asyncio.wait_for(probe, timeout)  # type: ignore[arg-type]
    except TimeoutError:
        return "timeout"
    except TemporalUnavailable:
        return "unreachable"
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def create_app(
    settings: Settings | None = None,
    engines: EngineChoice | None = None,
    turn_settings: TurnSettings | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    services = Services(settings, engines, turn_settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services
        # Everything allocated so far (modules, engines, the ORM) lives as long as the process:
        # moved out of the collector's generations, a full collection no longer walks ~190k
        # objects in one 100+ ms pause that every call's audio pacing would feel (bench/voice).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await services.close()
            gc.unfreeze()  # several apps in one process (tests): let the next one collect

    announce_signature_mode(settings)
    keyring()  # load (or create) it now, so a bad key configuration fails at startup
    app = FastAPI(title="Clinic receptionist", version="0.1.0", lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    twilio_limit = webhook_limiter(settings)  # one budget per address across every webhook
    app.include_router(build_router(services), dependencies=twilio_limit)
    app.include_router(build_sms_router(services), dependencies=twilio_limit)
    app.include_router(build_outbound_router(services), dependencies=twilio_limit)
    install_admin(app)
    app.include_router(build_codec_router(settings, services.db))
    app.include_router(build_audit_router())

    @app.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> JSONResponse:
        """Database and Temporal reachable: 200 when both are, 503 naming what is not."""
        services: Services = request.app.state.services

        async def temporal_ok() -> None:
            client = await services.temporal()
            if not await client.service_client.check_health():
                raise RuntimeError("unhealthy")

        database, temporal = await asyncio.gather(_check(services.db.ping()), _check(temporal_ok()))
        healthy = database == "ok" and temporal == "ok"
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", "database": database, "temporal": temporal},
            status_code=200 if healthy else 503,
        )

    return app
