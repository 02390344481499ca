"""Logging in and out, clinics, users and API tokens."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from sqlmodel import col, select

from adminapi import roles
from adminapi.auth import (
    SESSION_COOKIE,
    Principal,
    authenticated,
    clinic_access,
    not_found,
    require_roles,
    session_policy,
)
from adminapi.deps import Services, config_refused, conflict, owned, request_ip
from adminapi.phi import audit
from core.accounts.passwords import MAX_LENGTH, WeakPassword, verify_password
from core.accounts.sessions import end_session, end_user_sessions, session_expiry, start_session
from core.accounts.tokens import issue_token, revoke_token
from core.accounts.users import AccountError, authenticate, create_user, set_password
from core.clinic_config import ClinicConfig, ClinicConfigError, apply_clinic_config
from core.models import ApiToken, Clinic, LoginSession, Role, User
from core.security.ratelimit import RateLimiter, limit_by_address

ClinicRole = Literal["admin", "staff", "integrator"]


class UserOut(BaseModel):
    id: str
    email: str
    role: Role
    clinic_id: str | None
    active: bool
    created_at: datetime


class ClinicSummary(BaseModel):
    id: str
    slug: str
    name: str
    time_zone: str


class LoginRequest(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=MAX_LENGTH)


class SessionOut(BaseModel):
    """The caller: who, which clinic, and for a browser login its CSRF token and expiry."""

    user: UserOut
    clinic: ClinicSummary | None
    csrf_token: str | None = None
    expires_at: datetime | None = None
    idle_timeout_seconds: int | None = Field(
        default=None, description="a browser session ends after this long without a request"
    )


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=MAX_LENGTH)
    new_password: str = Field(max_length=MAX_LENGTH)


class NewUser(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=MAX_LENGTH)
    role: ClinicRole


class UserChange(BaseModel):
    role: ClinicRole | None = None
    active: bool | None = None


class TokenOut(BaseModel):
    id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewToken(BaseModel):
    user_id: str
    name: str = Field(min_length=1, max_length=120)


class IssuedTokenOut(TokenOut):
    token: str = Field(description="the secret; shown only in this response")


def _user_out(user: User) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


def _clinic_out(clinic: Clinic) -> ClinicSummary:
    return ClinicSummary.model_validate(clinic, from_attributes=True)


def _token_out(token: ApiToken) -> TokenOut:
    return TokenOut.model_validate(token, from_attributes=True)


def _account_refused(exc: ValueError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api")
    # Per application: guessing passwords from one address is slowed to 10 tries a minute.
    login_limit = limit_by_address(RateLimiter(per_minute=10, burst=5))

    @router.post(
        "/auth/login",
        tags=["auth"],
        response_model=SessionOut,
        dependencies=[Depends(login_limit)],
        responses={401: {"description": "wrong e-mail or password"}},
    )
    async def login(
        body: LoginRequest, request: Request, response: Response, services: Services
    ) -> SessionOut:
        """Start a dashboard session: sets an HttpOnly cookie and returns the CSRF token that
        every write in this session must send back in ``X-CSRF-Token``."""
        user = await authenticate(services.db, body.email, body.password)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong e-mail or password")
        policy = session_policy(services.settings)
        started = await start_session(services.db, user, policy, request_ip(request))
        response.set_cookie(
            SESSION_COOKIE,
            started.cookie,
            max_age=int(policy.lifetime.total_seconds()),
            httponly=True,
            secure=services.settings.session_cookie_secure,
            samesite="strict",
            path="/",
        )
        return await _session_out(services, user, started.session)

    @router.post("/auth/logout", tags=["auth"], status_code=204)
    async def logout(
        request: Request,
        services: Services,
        principal: Annotated[Principal, Depends(authenticated)],
    ) -> Response:
        """End this browser session (its cookie stops working at once)."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if principal.via == "session" and cookie:
            await end_session(services.db, cookie)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/auth/me", tags=["auth"], response_model=SessionOut)
    async def me(
        services: Services, principal: Annotated[Principal, Depends(authenticated)]
    ) -> SessionOut:
        """Who is calling; for a browser session also its CSRF token (after a page reload)."""
        async with services.db.read() as session:
            user = await session.get(User, principal.user_id)
            login = (
                await session.get(LoginSession, principal.session_id)
                if principal.session_id
                else None
            )
        assert user is not None
        return await _session_out(services, user, login)

    async def _session_out(
        services: Services, user: User, login: LoginSession | None
    ) -> SessionOut:
        clinic = None
        if user.clinic_id:
            async with services.db.read() as session:
                found = await session.get(Clinic, user.clinic_id)
            clinic = _clinic_out(found) if found else None
        policy = session_policy(services.settings)
        return SessionOut(
            user=_user_out(user),
            clinic=clinic,
            csrf_token=login.csrf_token if login else None,
            expires_at=session_expiry(login, policy) if login else None,
            idle_timeout_seconds=int(policy.idle.total_seconds()) if login else None,
        )

    @router.post("/auth/password", tags=["auth"], status_code=204)
    async def change_password(
        body: PasswordChange,
        services: Services,
        principal: Annotated[Principal, Depends(authenticated)],
    ) -> Response:
        """Change your own password; every session of yours ends (log in again)."""
        async with services.db.write() as session:
            user = await session.get(User, principal.user_id)
            assert user is not None
            if not await asyncio.to_thread(
                verify_password, user.password_hash, body.current_password
            ):
                raise HTTPException(status.HTTP_403_FORBIDDEN, "current password is wrong")
            try:
                await set_password(session, user, body.new_password)
            except WeakPassword as exc:
                raise _account_refused(exc) from None
        await end_user_sessions(services.db, principal.user_id)
        return Response(status_code=204)

    @router.get("/clinics", tags=["clinics"], response_model=list[ClinicSummary])
    async def list_clinics(
        services: Services, principal: Annotated[Principal, Depends(authenticated)]
    ) -> list[ClinicSummary]:
        """All clinics for the operator; your own clinic for everyone else."""
        query = select(Clinic).order_by(col(Clinic.name))
        if principal.role is not Role.OPERATOR:
            query = query.where(Clinic.id == principal.clinic_id)
        async with services.db.read() as session:
            return [_clinic_out(c) for c in await session.exec(query)]

    @router.post("/clinics", tags=["clinics"], response_model=ClinicSummary, status_code=201)
    async def create_clinic(
        body: ClinicConfig,
        services: Services,
        _: Annotated[Principal, Depends(require_roles(Role.OPERATOR))],
    ) -> ClinicSummary:
        """Onboard a clinic from its configuration document (operator only)."""
        async with services.db.write() as session:
            taken = await session.exec(select(Clinic).where(Clinic.slug == body.slug))
            if taken.first() is not None:
                raise conflict(f"a clinic with the slug {body.slug!r} exists")
            try:
                clinic = await apply_clinic_config(session, body)
            except ClinicConfigError as exc:
                raise config_refused(exc) from None
            return _clinic_out(clinic)

    @router.get("/clinics/{clinic_id}/users", tags=["users"], response_model=list[UserOut])
    async def list_users(
        clinic_id: str,
        services: Services,
        _: Annotated[Principal, Depends(clinic_access(*roles.MANAGE_USERS))],
    ) -> list[UserOut]:
        async with services.db.read() as session:
            rows = await session.exec(
                select(User).where(User.clinic_id == clinic_id).order_by(col(User.email))
            )
            return [_user_out(u) for u in rows]

    @router.post(
        "/clinics/{clinic_id}/users", tags=["users"], response_model=UserOut, status_code=201
    )
    async def add_user(
        clinic_id: str,
        body: NewUser,
        services: Services,
        principal: Annotated[Principal, Depends(clinic_access(*roles.MANAGE_USERS))],
    ) -> UserOut:
        """Create a user of this clinic (password at least 12 characters)."""
        try:
            async with services.db.write() as session:
                user = await create_user(
                    session,
                    email=body.email,
                    password=body.password,
                    role=Role(body.role),
                    clinic_id=clinic_id,
                )
        except AccountError as exc:
            if "already exists" in str(exc):
                raise conflict(str(exc)) from None
            raise _account_refused(exc) from None
        except WeakPassword as exc:
            raise _account_refused(exc) from None
        # Who may reach PHI is itself audited (access control changes, §164.312(b)).
        await audit(services.db, principal, "create", "user", user.id, {"role": body.role})
        return _user_out(user)

    @router.patch("/clinics/{clinic_id}/users/{user_id}", tags=["users"], response_model=UserOut)
    async def change_user(
        clinic_id: str,
        user_id: str,
        body: UserChange,
        services: Services,
        principal: Annotated[Principal, Depends(clinic_access(*roles.MANAGE_USERS))],
    ) -> UserOut:
        """Change a user's role or deactivate them (which ends their sessions and tokens)."""
        if user_id == principal.user_id and (body.active is False or body.role is not None):
            raise HTTPException(status.HTTP_409_CONFLICT, "you cannot demote or disable yourself")
        async with services.db.write() as session:
            user = await owned(session, User, user_id, clinic_id)
            if body.role is not None:
                user.role = Role(body.role)
            if body.active is not None:
                user.active = body.active
            session.add(user)
        if body.active is False or body.role is not None:
            await end_user_sessions(services.db, user_id)
        await audit(
            services.db, principal, "update", "user", user_id,
            {"role": body.role, "active": body.active},
        )  # fmt: skip
        return _user_out(user)

    @router.get("/clinics/{clinic_id}/tokens", tags=["users"], response_model=list[TokenOut])
    async def list_tokens(
        clinic_id: str,
        services: Services,
        _: Annotated[Principal, Depends(clinic_access(*roles.MANAGE_USERS))],
    ) -> list[TokenOut]:
        async with services.db.read() as session:
            rows = await session.exec(
                select(ApiToken)
                .join(User, col(User.id) == ApiToken.user_id)
                .where(User.clinic_id == clinic_id)
                .order_by(col(ApiToken.created_at))
            )
            return [_token_out(t) for t in rows]

    @router.post(
        "/clinics/{clinic_id}/tokens",
        tags=["users"],
        response_model=IssuedTokenOut,
        status_code=201,
    )
    async def add_token(
        clinic_id: str,
        body: NewToken,
        services: Services,
        _: Annotated[Principal, Depends(clinic_access(*roles.MANAGE_USERS))],
    ) -> IssuedTokenOut:
        """Issue an API token acting as the given user of this clinic. The secret is in this
        response only; store it now."""
        async with services.db.read() as session:
            user = await owned(session, User, body.user_id, clinic_id)
        if not user.active:
            raise HTTPException(status.HTTP_409_CONFLICT, "the user is deactivated")
        issued = await issue_token(services.db, user, body.name)
        return IssuedTokenOut(**_token_out(issued.token).model_dump(), token=issued.secret)

    @router.delete("/clinics/{clinic_id}/tokens/{token_id}", tags=["users"], status_code=204)
    async def delete_token(
        clinic_id: str,
        token_id: str,
        services: Services,
        _: Annotated[Principal, Depends(clinic_access(*roles.MANAGE_USERS))],
    ) -> Response:
        """Revoke a token: it stops working at once."""
        async with services.db.read() as session:
            token = await session.get(ApiToken, token_id)
            user = await session.get(User, token.user_id) if token else None
        if token is None or user is None or user.clinic_id != clinic_id:
            raise not_found("token not found")
        await revoke_token(services.db, token_id)
        return Response(status_code=204)

    return router
