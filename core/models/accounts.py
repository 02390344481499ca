"""Login sessions and API tokens of the users in ``core.models.security``.

Neither table stores a usable credential: the session cookie and the API token are random
secrets of which only the SHA-256 is kept, so a copy of the database lets nobody in.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.models.base import new_id, utc_field, utcnow


class LoginSession(SQLModel, table=True):
    """A browser's login, ended by logout, idle time-out or its absolute lifetime."""

    id: str = Field(default_factory=new_id, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    user_id: str = Field(foreign_key="user.id", index=True)
    # Sent back by the browser in the X-CSRF-Token header on every write; useless without the
    # cookie, so it is kept in the clear to be shown to the page after a reload.
    csrf_token: str = Field(max_length=64)
    created_at: datetime = utc_field(default_factory=utcnow)
    last_seen_at: datetime = utc_field(default_factory=utcnow)
    expires_at: datetime = utc_field()
    source_ip: str | None = Field(default=None, max_length=64)


class ApiToken(SQLModel, table=True):
    """A bearer token for programmatic access; acts with its user's role and clinic."""

    id: str = Field(default_factory=new_id, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    user_id: str = Field(foreign_key="user.id", index=True)
    name: str = Field(max_length=120)
    # The first characters of the token, so a person can tell their tokens apart in a list.
    prefix: str = Field(max_length=16)
    created_at: datetime = utc_field(default_factory=utcnow)
    last_used_at: datetime | None = utc_field(default=None)
    revoked_at: datetime | None = utc_field(default=None)
