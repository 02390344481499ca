"""The column type of every PHI column: plaintext in Python, AES-256-GCM ciphertext on disk."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from core.security import crypto

# Comparisons that stay meaningful on ciphertext: only whether a value is there at all.
_NULL_CHECKS = {operators.is_, operators.is_not}


class EncryptedColumnComparisonError(TypeError):
    """SQL compared an encrypted column's ciphertext (which never equals a plaintext)."""


class EncryptedText(TypeDecorator[str]):
    """Encrypts on the way in, decrypts on the way out; ORM code sees plain ``str``.

    Ciphertexts are randomised, so SQL cannot compare them: equality filters raise instead of
    silently matching nothing. Look records up by their blind-index columns instead. A value
    written before encryption was introduced reads back as it is until the migration or
    ``receptionist keys rotate`` encrypts it.
    """

    impl = String
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[str]):  # SQLAlchemy names it so
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            if op not in _NULL_CHECKS:
                raise EncryptedColumnComparisonError(
                    f"{self.expr} is encrypted: filter on its blind index, not its value"
                )
            return super().operate(op, *other, **kwargs)

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return crypto.encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or not crypto.is_encrypted_text(value):
            return value
        return crypto.decrypt(value)
