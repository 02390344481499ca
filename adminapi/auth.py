"""Who is calling, and may they touch this clinic: the dependency every ``/api`` route uses.

Credentials are a login session cookie (the dashboard) or ``Authorization: Bearer <api token>``.
For routes under ``/api/clinics/{clinic_id}/...``, ``clinic_access(*roles)`` answers
401 without valid credentials, 404 when the caller belongs to another clinic (the same answer
as for a clinic that does not exist, so nothing about other tenants leaks), and 403 when the
caller's role may not use the route. Cookie-authenticated writes must echo the session's CSRF
token in ``X-CSRF-Token``; bearer tokens are not sent automatically by browsers and need none.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from core.accounts.sessions import SessionPolicy, resolve_session
from core.accounts.tokens import resolve_token
from core.db import Database
from core.models import Clinic, Role
from core.settings import Settings

SESSION_COOKIE = "receptionist_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# auto_error=False: missing credentials are answered by us (401 with a clear message), and the
# schemes still appear in the OpenAPI document.
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="Dashboard login")
_bearer = HTTPBearer(auto_error=False, description="API token (`rcp_...`)")


class ApiServices(Protocol):
    """What the admin API needs from the application (``app.state.services``)."""

    settings: Settings
    db: Database

    async def temporal(self) -> Client: ...


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``clinic_id`` is None only for the platform operator."""

    user_id: str
    role: Role
    clinic_id: str | None
    source_ip: str | None
    via: Literal["session", "token"] = "token"
    session_id: str | None = None


def services_of(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


def session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy(
        idle=timedelta(minutes=settings.session_idle_minutes),
        lifetime=timedelta(hours=settings.session_max_hours),
    )


def _unauthorised(detail: str = "log in or send an API token") -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def not_found(what: str = "not found") -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, what)


async def authenticated(
    request: Request,
    cookie: Annotated[str | None, Depends(_cookie)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Any logged-in user or valid API token; raises 401 otherwise (and 403 on a CSRF miss)."""
    services = services_of(request)
    source_ip = request.client.host if request.client else None
    if bearer is not None:
        user = await resolve_token(services.db, bearer.credentials)
        if user is None:
            raise _unauthorised("invalid or revoked API token")
        return Principal(user.id, Role(user.role), user.clinic_id, source_ip, "token")
    if cookie:
        found = await resolve_session(services.db, cookie, session_policy(services.settings))
        if found is None:
            raise _unauthorised("session expired; log in again")
        login, user = found
        if request.method not in _SAFE_METHODS and not hmac.compare_digest(
            request.headers.get(CSRF_HEADER, ""), login.csrf_token
        ):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
        return Principal(user.id, Role(user.role), user.clinic_id, source_ip, "session", login.id)
    raise _unauthorised()


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """For routes outside a clinic (e.g. creating clinics): the caller's role must be listed."""

    async def dependency(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")
        return principal

    return dependency


def clinic_access(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """The dependency for ``/api/clinics/{clinic_id}/...`` routes open to ``roles``.

    The operator is scoped to no clinic: it reaches a clinic's routes only where ``roles``
    names it, and an unknown clinic is 404 for it too.
    """
    allowed = frozenset(roles)

    async def dependency(
        clinic_id: str, request: Request, principal: Annotated[Principal, Depends(authenticated)]
    ) -> Principal:
        if principal.role is Role.OPERATOR:
            if principal.role not in allowed:
                raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")
            async with services_of(request).db.read() as session:
                if await session.get(Clinic, clinic_id) is None:
                    raise not_found("clinic not found")
            return principal
        if principal.clinic_id != clinic_id:
            raise not_found("clinic not found")
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")
        return principal

    return dependency
