"""Structured logs: one JSON object per line, with the call and workflow in context.

Log events carry ids (call sid, workflow id, clinic id), never patient details. Because a slip
is always possible (an exception quoting a row, a third-party library logging a request), every
line is redacted by ``JsonFormatter`` before it is written: values of known PHI fields are
replaced, and phone numbers, e-mail addresses, dates (not timestamps) and the names of patients
this process has handled are masked wherever they appear, exception text included.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

call_id_var: ContextVar[str | None] = ContextVar("call_id", default=None)

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is an event field.
_RECORD_FIELDS = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's duplicate of the message with ANSI colours
}

REDACTED = "[redacted]"
# ``extra`` fields whose value is PHI whatever it looks like.
PHI_KEYS = frozenset(
    {
        "phone", "caller", "caller_phone", "from_number", "from", "recipient", "email",
        "name", "first_name", "last_name", "patient_name", "full_name",
        "dob", "date_of_birth", "birth_date", "member_id", "insurance_member_id",
        "text", "transcript", "utterance", "said", "summary", "body", "notes", "address",
    }
)  # fmt: skip
_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_PATTERNS = [
    # E.164 and North American numbers in their usual spellings.
    re.compile(r"\+\d[\d\s().-]{8,17}\d"),
    re.compile(r"(?<![\w.-])\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?![\w-])"),
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    # Dates, but not timestamps (a date followed by a time is when something happened).
    re.compile(r"(?<![\w-])\d{4}-\d{2}-\d{2}(?![\w:-]|[ T]\d{2}:)"),
    re.compile(r"(?<![\w/])\d{1,2}/\d{1,2}/\d{2,4}(?![\w/])"),
    re.compile(rf"\b(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}\b", re.IGNORECASE),
]
_WORD = re.compile(r"[^\W\d_][\w'-]*")
_MIN_NAME = 3  # shorter names ("Al", "Jo") would mask too much ordinary text
_MAX_NAMES = 100_000


class _KnownNames:
    """Names of patients this process has read or written, to mask in log text."""

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def add(self, names: Iterable[str | None]) -> None:
        words = {
            word.casefold()
            for name in names
            if name
            for word in _WORD.findall(name)
            if len(word) >= _MIN_NAME
        }
        with self._lock:
            if len(self._names) + len(words) > _MAX_NAMES:
                self._names.clear()  # bounded memory; names come back as records are read
            self._names |= words

    def mask(self, text: str) -> str:
        if not self._names:
            return text
        return _WORD.sub(
            lambda m: REDACTED if m.group().casefold() in self._names else m.group(), text
        )


known_names = _KnownNames()


def remember_phi_names(*names: str | None) -> None:
    """Register patient names so that log lines mentioning them are masked."""
    known_names.add(names)


def redact_text(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return known_names.mask(text)


def _redact_value(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if key.casefold() in PHI_KEYS:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redact_value(key, v) for v in value]
    return redact_text(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, redacted (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact_text(record.getMessage()),
        }
        call_id = call_id_var.get()
        if call_id:
            event["call_id"] = call_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                event[key] = _redact_value(key, value)
        if record.exc_info:
            event["error"] = redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            event["stack"] = redact_text(record.stack_info)
        return json.dumps(event, default=str)


def json_handler(stream: TextIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    return handler


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    root = logging.getLogger()
    root.handlers[:] = [json_handler(stream or sys.stderr)]
    root.setLevel(level.upper())
    for noisy in ("httpx", "uvicorn.access", "aiosqlite", "alembic", "twilio.http_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
