"""Lenient reading of received ER7 text with python-hl7: a missing segment or field is ""."""

from __future__ import annotations

import hl7


def parse(text: str) -> hl7.Message:
    """Parse ER7; accepts ``\\n`` or ``\\r\\n`` segment separators as senders sometimes use.
    Raises ``hl7.ParseException`` or ``ValueError`` when there is no MSH to start from."""
    lines = [line for line in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if line]
    return hl7.parse("\r".join(lines))


def value(
    message: hl7.Message, segment: str, field: int, component: int = 1, repeat: int = 1
) -> str:
    """Field ``segment-field.component`` of the first such segment, unescaped, or ""."""
    try:
        return str(message.extract_field(segment, 1, field, repeat, component)).strip()
    except (KeyError, IndexError):
        return ""
