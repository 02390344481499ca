"""Dashboard logins: cookie flags, CSRF on writes, idle logoff, absolute lifetime, logout,
password changes; API tokens: revocation and deactivated users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from sqlmodel import select

from adminapi.auth import CSRF_HEADER, SESSION_COOKIE
from core.accounts.credentials import digest
from core.models import ApiToken, LoginSession, utcnow
from tests.admin.conftest import AdminApi
from tests.support.accounts import Account


@asynccontextmanager
async def logged_in(
    api: AdminApi, account: Account
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser of its own, logged in as ``account``; yields it and its CSRF token."""
    async with api.fresh_client() as client:
        response = await client.post(
            "/api/auth/login", json={"email": account.email, "password": account.password}
        )
        assert response.status_code == 200, response.text
        yield client, response.json()["csrf_token"]


def _role(api: AdminApi, name: str) -> Account:
    return next(account for role, account in api.a.accounts.items() if role.value == name)


async def test_login_sets_a_hardened_cookie_and_reads_work(admin_api: AdminApi) -> None:
    staff = _role(admin_api, "staff")
    async with admin_api.fresh_client() as client:
        response = await client.post(
            "/api/auth/login", json={"email": staff.email.upper(), "password": staff.password}
        )
        assert response.status_code == 200, response.text
        cookie = response.headers["set-cookie"].lower()
        for flag in ("httponly", "secure", "samesite=strict", "path=/"):
            assert flag in cookie
        body = response.json()
        assert (
            body["user"]["email"] == staff.email and body["clinic"]["id"] == admin_api.a.clinic_id
        )
        assert body["csrf_token"]
        me = await client.get("/api/auth/me")
        assert me.status_code == 200 and me.json()["csrf_token"] == body["csrf_token"]
        # The cookie value is stored only as a hash.
        raw = client.cookies[SESSION_COOKIE]
        async with admin_api.db.read() as session:
            stored = (await session.exec(select(LoginSession))).all()
        assert raw not in {s.token_hash for s in stored}
        assert digest(raw) in {s.token_hash for s in stored}


async def test_wrong_password_and_unknown_email_look_the_same(admin_api: AdminApi) -> None:
    admin = admin_api.a.admin
    wrong = await admin_api.client.post(
        "/api/auth/login", json={"email": admin.email, "password": "not the password"}
    )
    unknown = await admin_api.client.post(
        "/api/auth/login", json={"email": "nobody@example.test", "password": "whatever12345"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert SESSION_COOKIE not in admin_api.client.cookies


async def test_login_is_rate_limited_per_address(admin_api: AdminApi) -> None:
    statuses = [
        (
            await admin_api.client.post(
                "/api/auth/login", json={"email": "x@example.test", "password": "guess-guess-1"}
            )
        ).status_code
        for _ in range(8)
    ]
    assert statuses[0] == 401
    assert 429 in statuses


async def test_cookie_writes_need_the_csrf_token(admin_api: AdminApi) -> None:
    a = admin_api.a
    async with logged_in(admin_api, a.admin) as (client, csrf):
        url = f"/api/clinics/{a.clinic_id}/settings"
        missing = await client.patch(url, json={"greeting": "Hello there"})
        assert missing.status_code == 403 and "CSRF" in missing.text
        wrong = await client.patch(url, json={"greeting": "Hello"}, headers={CSRF_HEADER: "nope"})
        assert wrong.status_code == 403
        ok = await client.patch(url, json={"greeting": "Hello there"}, headers={CSRF_HEADER: csrf})
        assert ok.status_code == 200 and ok.json()["greeting"] == "Hello there"
    # Bearer tokens are not sent by browsers on their own: no CSRF token needed.
    ok = await admin_api.client.patch(url, json={"greeting": "Hi"}, headers=a.admin.headers)
    assert ok.status_code == 200


async def test_idle_session_is_logged_off(admin_api: AdminApi) -> None:
    async with logged_in(admin_api, _role(admin_api, "staff")) as (client, _):
        assert (await client.get("/api/auth/me")).status_code == 200
        idle = timedelta(minutes=admin_api.settings.session_idle_minutes, seconds=1)
        async with admin_api.db.write() as session:
            for row in (await session.exec(select(LoginSession))).all():
                row.last_seen_at = utcnow() - idle
                session.add(row)
        response = await client.get("/api/auth/me")
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]
        async with admin_api.db.read() as session:
            assert (await session.exec(select(LoginSession))).all() == []


async def test_activity_keeps_a_session_alive_until_its_absolute_lifetime(
    admin_api: AdminApi,
) -> None:
    a = admin_api.a
    async with logged_in(admin_api, a.admin) as (client, _):
        async with admin_api.db.write() as session:
            row = (await session.exec(select(LoginSession))).one()
            row.last_seen_at = utcnow() - timedelta(minutes=5)  # active five minutes ago
            session.add(row)
        assert (await client.get("/api/auth/me")).status_code == 200
        async with admin_api.db.read() as session:
            refreshed = (await session.exec(select(LoginSession))).one()
        assert utcnow() - refreshed.last_seen_at < timedelta(minutes=1)
        async with admin_api.db.write() as session:
            row = (await session.exec(select(LoginSession))).one()
            row.expires_at = utcnow() - timedelta(seconds=1)
            session.add(row)
        assert (await client.get("/api/auth/me")).status_code == 401


async def test_logout_ends_the_session(admin_api: AdminApi) -> None:
    a = admin_api.a
    async with logged_in(admin_api, a.admin) as (client, csrf):
        cookie = client.cookies[SESSION_COOKIE]
        response = await client.post("/api/auth/logout", headers={CSRF_HEADER: csrf})
        assert response.status_code == 204
        assert (await client.get("/api/auth/me")).status_code == 401
    # The old cookie replayed by someone else is dead too.
    async with admin_api.fresh_client() as other:
        other.cookies.set(SESSION_COOKIE, cookie)
        assert (await other.get("/api/auth/me")).status_code == 401


async def test_password_change_ends_every_session(admin_api: AdminApi) -> None:
    a = admin_api.a
    async with logged_in(admin_api, a.admin) as (client, csrf):
        weak = await client.post(
            "/api/auth/password",
            json={"current_password": a.admin.password, "new_password": "short"},
            headers={CSRF_HEADER: csrf},
        )
        assert weak.status_code == 422 and "12 characters" in weak.text
        changed = await client.post(
            "/api/auth/password",
            json={"current_password": a.admin.password, "new_password": "a brand new passphrase"},
            headers={CSRF_HEADER: csrf},
        )
        assert changed.status_code == 204
        assert (await client.get("/api/auth/me")).status_code == 401
    old = await admin_api.client.post(
        "/api/auth/login", json={"email": a.admin.email, "password": a.admin.password}
    )
    assert old.status_code == 401
    new = await admin_api.client.post(
        "/api/auth/login", json={"email": a.admin.email, "password": "a brand new passphrase"}
    )
    assert new.status_code == 200


async def test_token_is_shown_once_stored_hashed_and_revocable(admin_api: AdminApi) -> None:
    a = admin_api.a
    integrator = _role(admin_api, "integrator")
    issued = await admin_api.client.post(
        f"/api/clinics/{a.clinic_id}/tokens",
        json={"user_id": integrator.user_id, "name": "pms sync"},
        headers=a.admin.headers,
    )
    assert issued.status_code == 201, issued.text
    secret, token_id = issued.json()["token"], issued.json()["id"]
    listed = await admin_api.client.get(
        f"/api/clinics/{a.clinic_id}/tokens", headers=a.admin.headers
    )
    assert secret not in listed.text and token_id in listed.text
    async with admin_api.db.read() as session:
        stored = await session.get(ApiToken, token_id)
    assert stored is not None and stored.token_hash == digest(secret)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert (
        await admin_api.client.get(f"/api/clinics/{a.clinic_id}/calls", headers=bearer)
    ).status_code == 200
    revoked = await admin_api.client.delete(
        f"/api/clinics/{a.clinic_id}/tokens/{token_id}", headers=a.admin.headers
    )
    assert revoked.status_code == 204
    after = await admin_api.client.get(f"/api/clinics/{a.clinic_id}/calls", headers=bearer)
    assert after.status_code == 401


async def test_deactivated_user_loses_tokens_and_sessions(admin_api: AdminApi) -> None:
    a = admin_api.a
    staff = _role(admin_api, "staff")
    async with logged_in(admin_api, staff) as (client, _):
        response = await admin_api.client.patch(
            f"/api/clinics/{a.clinic_id}/users/{staff.user_id}",
            json={"active": False},
            headers=a.admin.headers,
        )
        assert response.status_code == 200 and response.json()["active"] is False
        assert (await client.get("/api/auth/me")).status_code == 401
    calls = await admin_api.client.get(f"/api/clinics/{a.clinic_id}/calls", headers=staff.headers)
    assert calls.status_code == 401
    login = await admin_api.client.post(
        "/api/auth/login", json={"email": staff.email, "password": staff.password}
    )
    assert login.status_code == 401


async def test_admin_cannot_lock_themselves_out(admin_api: AdminApi) -> None:
    a = admin_api.a
    response = await admin_api.client.patch(
        f"/api/clinics/{a.clinic_id}/users/{a.admin.user_id}",
        json={"active": False},
        headers=a.admin.headers,
    )
    assert response.status_code == 409


async def test_no_credentials_is_401(admin_api: AdminApi) -> None:
    response = await admin_api.client.get(f"/api/clinics/{admin_api.a.clinic_id}/calls")
    assert response.status_code == 401
    bad = await admin_api.client.get(
        f"/api/clinics/{admin_api.a.clinic_id}/calls", headers={"Authorization": "Bearer rcp_nope"}
    )
    assert bad.status_code == 401
