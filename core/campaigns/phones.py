"""Phone numbers are PHI: opt-outs and reply routing are keyed by the keyed blind index of the
number (the same one as ``Patient.phone_index``), never the number itself. ``phone_key`` is the
one place that computes it."""

from __future__ import annotations

from core.security.crypto import blind_index


def phone_key(number: str) -> str:
    return blind_index("phone", number)
