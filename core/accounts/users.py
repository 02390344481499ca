"""Creating users and checking their passwords."""

from __future__ import annotations

import asyncio
import re

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.accounts.passwords import check_strength, hash_password, needs_rehash, verify_password
from core.db import Database
from core.models import Clinic, Role, User

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """An account cannot be created or changed as asked; the message says why."""


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise AccountError(f"{email!r} is not an e-mail address")
    return email


async def create_user(
    session: AsyncSession, *, email: str, password: str, role: Role, clinic_id: str | None
) -> User:
    """A new active user; operators belong to no clinic, everyone else to exactly one."""
    email = normalise_email(email)
    if (role is Role.OPERATOR) != (clinic_id is None):
        raise AccountError("operators have no clinic; every other role needs one")
    if clinic_id is not None and await session.get(Clinic, clinic_id) is None:
        raise AccountError("unknown clinic")
    if (await session.exec(select(User).where(User.email == email))).first() is not None:
        raise AccountError(f"a user with the e-mail {email!r} already exists")
    check_strength(password, email=email)
    user = User(
        email=email,
        password_hash=await asyncio.to_thread(hash_password, password),
        role=role,
        clinic_id=clinic_id,
    )
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    check_strength(password, email=user.email)
    user.password_hash = await asyncio.to_thread(hash_password, password)
    session.add(user)


async def authenticate(db: Database, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None (same cost either way)."""
    try:
        email = normalise_email(email)
    except AccountError:
        email = ""
    async with db.read() as session:
        user = (await session.exec(select(User).where(User.email == email))).first()
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        return None
    if needs_rehash(user.password_hash):
        async with db.write() as session:
            fresh = await session.get(User, user.id)
            if fresh is not None:
                await set_password(session, fresh, password)
    return user
