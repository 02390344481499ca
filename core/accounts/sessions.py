"""Server-side login sessions: the cookie holds a random secret, the table its hash.

A session ends at logout, after ``idle`` without a request, or ``lifetime`` after login,
whichever comes first. Expired rows are deleted when they are next presented and at login.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, delete, or_, select

from core.accounts.credentials import digest, new_secret
from core.db import Database
from core.models import LoginSession, User, utcnow

# Touching last_seen_at on every request would turn each read into a write; a session's idle
# clock is kept to within this much instead.
_TOUCH_EVERY = timedelta(seconds=15)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    lifetime: timedelta


@dataclass(frozen=True)
class StartedSession:
    cookie: str  # given to the browser once, never stored
    session: LoginSession


async def start_session(
    db: Database, user: User, policy: SessionPolicy, source_ip: str | None
) -> StartedSession:
    cookie = new_secret()
    now = utcnow()
    row = LoginSession(
        token_hash=digest(cookie),
        user_id=user.id,
        csrf_token=new_secret(),
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.lifetime,
        source_ip=source_ip,
    )
    async with db.write() as session:
        await session.exec(
            delete(LoginSession).where(
                col(LoginSession.user_id) == user.id,
                or_(
                    col(LoginSession.expires_at) <= now,
                    col(LoginSession.last_seen_at) <= now - policy.idle,
                ),
            )
        )
        session.add(row)
    return StartedSession(cookie, row)


async def resolve_session(
    db: Database, cookie: str, policy: SessionPolicy
) -> tuple[LoginSession, User] | None:
    """The live session and its active user for this cookie, refreshing its idle clock."""
    async with db.read() as session:
        found = (
            await session.exec(
                select(LoginSession, User)
                .join(User, col(User.id) == LoginSession.user_id)
                .where(LoginSession.token_hash == digest(cookie))
            )
        ).first()
    if found is None:
        return None
    login, user = found
    now = utcnow()
    if login.expires_at <= now or login.last_seen_at + policy.idle <= now or not user.active:
        await end_session(db, cookie)
        return None
    if now - login.last_seen_at >= _TOUCH_EVERY:
        async with db.write() as session:
            stored = await session.get(LoginSession, login.id)
            if stored is not None:
                stored.last_seen_at = now
                session.add(stored)
    return login, user


async def end_session(db: Database, cookie: str) -> None:
    async with db.write() as session:
        await session.exec(
            delete(LoginSession).where(col(LoginSession.token_hash) == digest(cookie))
        )


async def end_user_sessions(db: Database, user_id: str) -> None:
    """Log a user out everywhere (deactivated, or password changed)."""
    async with db.write() as session:
        await session.exec(delete(LoginSession).where(col(LoginSession.user_id) == user_id))


def session_expiry(login: LoginSession, policy: SessionPolicy) -> datetime:
    """When this session ends if nothing more happens."""
    return min(login.expires_at, login.last_seen_at + policy.idle)
