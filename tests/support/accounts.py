"""Accounts for API tests: a real user with a password and an API token, for any role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from core.accounts.tokens import issue_token
from core.accounts.users import create_user
from core.db import Database
from core.models import Role


@dataclass(frozen=True)
class Account:
    user_id: str
    email: str
    password: str
    api_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"}


async def create_account(db: Database, clinic_id: str | None, role: Role) -> Account:
    """A user of ``role`` in ``clinic_id`` (None for an operator), with an API token."""
    email = f"{role.value}-{uuid.uuid4().hex[:10]}@example.test"
    password = f"Pw-{uuid.uuid4().hex}"
    async with db.write() as session:
        user = await create_user(
            session, email=email, password=password, role=role, clinic_id=clinic_id
        )
    issued = await issue_token(db, user, f"test {role.value}")
    return Account(user.id, email, password, issued.secret)
