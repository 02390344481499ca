"""Who may talk to the Twilio edge: request signatures and one-time stream tokens.

Every webhook and the media WebSocket upgrade carry ``X-Twilio-Signature`` (HMAC-SHA1 with the
account's auth token over the public URL, plus the sorted form parameters for POSTs). Without
real credentials (local development) a random token is generated once in the data directory
and used by the simulated caller too, so the same checks run everywhere; it is announced once
in the log so nobody mistakes it for production.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends
from twilio.request_validator import RequestValidator

from core.security.ratelimit import RateLimiter, limit_by_address
from core.settings import Settings

log = logging.getLogger(__name__)
DEV_TOKEN_FILE = "dev-twilio-auth-token"


@lru_cache(maxsize=4)
def _dev_token(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    path.write_text(token)
    path.chmod(0o600)
    log.warning(
        "no TWILIO_AUTH_TOKEN: using a generated local development token",
        extra={"token_file": str(path)},
    )
    return token


def auth_token(settings: Settings) -> str:
    return settings.twilio_auth_token or _dev_token(settings.data_dir / DEV_TOKEN_FILE)


def public_url(
    settings: Settings,
    path: str,
    query: str = "",
    *,
    websocket: bool = False,
    host_header: str | None = None,
    forwarded_proto: str | None = None,
) -> str:
    """The URL Twilio signed: the configured public base URL, else rebuilt from the request."""
    if settings.public_base_url:
        base = urlsplit(settings.public_base_url)
        scheme, host = base.scheme, base.netloc
    else:
        scheme = (forwarded_proto or "http").split(",")[0].strip()
        host = (host_header or f"{settings.api_host}:{settings.api_port}").split(",")[0].strip()
    if websocket:
        scheme = {"https": "wss", "http": "ws"}.get(scheme, scheme)
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


def stream_url(settings: Settings, token: str) -> str:
    return public_url(settings, f"/twilio/media/{token}", websocket=True)


class InsecureConfiguration(RuntimeError):
    """Signature checks were relaxed where that is not allowed (real Twilio credentials)."""


def announce_signature_mode(settings: Settings) -> None:
    """At startup: refuse the relaxed mode outside local development, and say so loudly."""
    if not settings.insecure_skip_twilio_signature:
        return
    if settings.twilio_auth_token or (settings.public_base_url or "").startswith("https:"):
        raise InsecureConfiguration(
            "RECEPTIONIST_INSECURE_SKIP_TWILIO_SIGNATURE is for local development only; it is "
            "refused with a TWILIO_AUTH_TOKEN or an https public URL. Unset it."
        )
    log.warning(
        "SECURITY: Twilio signature checks are OFF (RECEPTIONIST_INSECURE_SKIP_TWILIO_SIGNATURE)."
        " Anyone who can reach this API can place fake calls. Local development only."
    )


def valid_signature(
    settings: Settings, url: str, params: dict[str, str], signature: str | None
) -> bool:
    if settings.insecure_skip_twilio_signature:
        return True  # refused at startup unless this is local development
    if not signature:
        return False
    return bool(RequestValidator(auth_token(settings)).validate(url, params, signature))


def webhook_limiter(settings: Settings) -> list[Any]:
    """The per-address limit for Twilio routes, as router dependencies (none when disabled)."""
    per_minute = settings.webhook_rate_per_minute
    if per_minute <= 0:
        return []
    return [Depends(limit_by_address(RateLimiter(per_minute, burst=max(1, per_minute // 2))))]


def sign(token: str, url: str, params: dict[str, str]) -> str:
    """Compute a signature as Twilio does (for the simulated caller and tests)."""
    return str(RequestValidator(token).compute_signature(url, params))


def new_stream_token() -> tuple[str, str]:
    """A one-time token for the media stream URL, and the hash we store (never the token)."""
    token = secrets.token_urlsafe(24)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
