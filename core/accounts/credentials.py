"""Random secrets handed to clients (session cookies, API tokens) and how they are stored.

The secrets carry 256 bits of entropy, so a plain SHA-256 is a sufficient one-way store (a slow
hash only matters for guessable secrets such as passwords, see ``passwords``).
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
