"""The dialogue state: what the caller wants, who they are, what we offered and asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from realtime.agent.rule.clock import TimeWish
from realtime.agent.rule.dates import DayWish


class Task(StrEnum):
    NONE = "none"
    BOOK = "book"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    CHECK = "check"  # "when is my appointment?"


class Awaiting(StrEnum):
    """The question the caller is answering, which decides how their words are read."""

    OPEN = "open"  # "How can I help?"
    IDENTITY = "identity"  # "Am I speaking with Alex?" after a caller-phone match
    NEW_OR_RETURNING = "new_or_returning"
    NAME = "name"
    LAST_NAME = "last_name"
    DOB = "dob"
    NEW_INSTEAD = "new_instead"  # record not found: book as a new patient?
    VISIT_TYPE = "visit_type"
    DAY = "day"
    OTHER_DAYS = "other_days"  # nothing free: look at other days?
    CHOICE = "choice"
    READ_BACK = "read_back"
    WHICH_APPOINTMENT = "which_appointment"
    BOOK_INSTEAD = "book_instead"  # nothing to move or cancel: book one?
    ANYTHING_ELSE = "anything_else"


@dataclass(frozen=True)
class Offer:
    """One ``find_slots`` option, exactly as the tool returned it."""

    option_id: str
    provider: str
    start: datetime  # clinic-local
    spoken: str  # "Tuesday, November 24th at 9:15 AM"

    @classmethod
    def from_tool(cls, raw: dict[str, Any]) -> Offer:
        return cls(
            option_id=str(raw["option_id"]),
            provider=str(raw["provider"]),
            start=datetime.fromisoformat(str(raw["start"])),
            spoken=str(raw["spoken"]),
        )


@dataclass(frozen=True)
class Upcoming:
    """An upcoming appointment from ``lookup_patient``."""

    ref: str
    provider: str
    type_name: str
    spoken: str

    @classmethod
    def from_tool(cls, raw: dict[str, Any]) -> Upcoming:
        return cls(
            ref=str(raw["appointment_ref"]),
            provider=str(raw["provider"]),
            type_name=str(raw["type"]),
            spoken=str(raw["spoken"]),
        )


@dataclass
class Caller:
    first_name: str | None = None
    last_name: str | None = None
    date_of_birth: date | None = None
    is_new: bool | None = None
    patient_id: str | None = None
    upcoming: list[Upcoming] = field(default_factory=list)
    phone_checked: bool = False
    # A record found by the calling number, waiting for the caller to say it is them.
    phone_match: dict[str, Any] | None = None
    looked_up: tuple[str, str, date] | None = None  # the last name + DOB we searched for
    failed_lookups: int = 0
    via_phone: bool = False  # identified by the calling number (we may not know the last name)
    refresh_needed: bool = False  # we moved or booked something: look upcoming visits up again

    @property
    def has_name(self) -> bool:
        return bool(self.first_name and self.last_name)


@dataclass
class Wish:
    """What the caller asked for; the ``find_slots`` arguments are derived from it."""

    type_code: str | None = None
    provider: str | None = None  # full provider name
    days: DayWish | None = None
    times: TimeWish = field(default_factory=TimeWish)

    @property
    def has_when(self) -> bool:
        return self.days is not None or not self.times.empty


@dataclass
class DialogueState:
    task: Task = Task.NONE
    awaiting: Awaiting = Awaiting.OPEN
    caller: Caller = field(default_factory=Caller)
    wish: Wish = field(default_factory=Wish)
    found: list[Offer] = field(default_factory=list)  # every option of the last search
    offers: list[Offer] = field(default_factory=list)  # the options we said, in that order
    searched: dict[str, Any] | None = None  # arguments of the search that gave ``offers``
    chosen: Offer | None = None
    target: Upcoming | None = None  # the appointment being moved or cancelled
    target_announced: bool = False
    mentioned_day: date | None = None  # "my Tuesday appointment": picks which one
    pending: dict[str, Any] | None = None  # arguments of the tool call we wait on
    pending_tool: str | None = None
    last_prompt: str = "How can I help you today?"
    misunderstood: int = 0
    rejections: int = 0
    tool_calls: int = 0
    ended: bool = False
    completed: list[str] = field(default_factory=list)  # what this call has done
    suggested_type: str | None = None  # an outbound recall's visit, booked on a "yes"

    def reset_task(self) -> None:
        """Forget the finished or abandoned request; keep who the caller is."""
        self.task = Task.NONE
        self.wish = Wish()
        self.found = []
        self.offers = []
        self.searched = None
        self.chosen = None
        self.target = None
        self.target_announced = False
        self.mentioned_day = None
        self.rejections = 0
