"""API tokens: shown once when issued, stored hashed, revocable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from core.accounts.credentials import digest, new_secret
from core.db import Database
from core.models import ApiToken, User, utcnow

TOKEN_PREFIX = "rcp_"
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    secret: str  # shown to the caller once
    token: ApiToken


async def issue_token(db: Database, user: User, name: str) -> IssuedToken:
    secret = new_secret(TOKEN_PREFIX)
    token = ApiToken(
        token_hash=digest(secret),
        user_id=user.id,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
    )
    async with db.write() as session:
        session.add(token)
    return IssuedToken(secret, token)


async def resolve_token(db: Database, secret: str) -> User | None:
    """The active user of this unrevoked token, or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    async with db.read() as session:
        found = (
            await session.exec(
                select(ApiToken, User)
                .join(User, col(User.id) == ApiToken.user_id)
                .where(ApiToken.token_hash == digest(secret))
            )
        ).first()
    if found is None:
        return None
    token, user = found
    if token.revoked_at is not None or not user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= _TOUCH_EVERY:
        async with db.write() as session:
            stored = await session.get(ApiToken, token.id)
            if stored is not None:
                stored.last_used_at = now
                session.add(stored)
    return user


async def revoke_token(db: Database, token_id: str) -> bool:
    async with db.write() as session:
        token = await session.get(ApiToken, token_id)
        if token is None or token.revoked_at is not None:
            return False
        token.revoked_at = utcnow()
        session.add(token)
    return True
