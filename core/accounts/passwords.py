"""Password hashing (Argon2id) and the rules a new password must meet."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 256  # bounded so a huge body cannot buy seconds of CPU per request

_hasher = PasswordHasher()  # RFC 9106 low-memory profile: Argon2id, 64 MiB, 3 passes
# Verified against when the e-mail is unknown, so a wrong e-mail costs the same time as a
# wrong password and the answer's timing does not reveal which accounts exist.
_DECOY = _hasher.hash("decoy password that matches nothing")


class WeakPassword(ValueError):
    """The password breaks a rule; the message says which."""


def check_strength(password: str, *, email: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"must be at most {MAX_LENGTH} characters")
    if len(set(password)) < 5:
        raise WeakPassword("uses too few different characters")
    if email and email.split("@")[0].lower() in password.lower():
        raise WeakPassword("must not contain the e-mail address")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DECOY, password[:MAX_LENGTH]) and bool(
            password_hash
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
