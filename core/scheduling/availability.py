"""Pure availability arithmetic: working windows, grid cells and candidate slot starts.

No I/O here, so every rule (time zones, DST, holidays, buffers, notice) is unit-testable.
All instants are timezone-aware; windows and cells are in UTC, rules in clinic-local time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Window = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    weekday: int  # 0 = Monday
    start: time
    end: time
    valid_from: date | None = None
    valid_until: date | None = None

    def applies_on(self, day: date) -> bool:
        return (
            day.weekday() == self.weekday
            and (self.valid_from is None or day >= self.valid_from)
            and (self.valid_until is None or day <= self.valid_until)
        )


@dataclass(frozen=True, slots=True)
class Override:
    """A one-off change: extra hours when ``available``, otherwise time off."""

    starts_at: datetime
    ends_at: datetime
    available: bool


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time. In a DST gap the earlier offset applies, so a
    window that starts inside the gap begins at the first real minute after it."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def merge(windows: Iterable[Window]) -> list[Window]:
    merged: list[Window] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract(windows: list[Window], holes: Iterable[Window]) -> list[Window]:
    result = windows
    for hole_start, hole_end in holes:
        next_result: list[Window] = []
        for start, end in result:
            if hole_end <= start or hole_start >= end:
                next_result.append((start, end))
                continue
            if start < hole_start:
                next_result.append((start, hole_start))
            if hole_end < end:
                next_result.append((hole_end, end))
        result = next_result
    return result


def working_windows(
    rules: Iterable[WeeklyRule],
    overrides: Iterable[Override],
    holidays: set[date],
    tz: ZoneInfo,
    first_day: date,
    last_day: date,
) -> list[Window]:
    """A provider's working time between two local dates (inclusive), in UTC."""
    rules = list(rules)
    windows: list[Window] = []
    day = first_day
    while day <= last_day:
        if day not in holidays:
            for rule in rules:
                if rule.applies_on(day):
                    windows.append(
                        (local_instant(day, rule.start, tz), local_instant(day, rule.end, tz))
                    )
        day += timedelta(days=1)
    overrides = list(overrides)
    windows = merge(windows + [(o.starts_at, o.ends_at) for o in overrides if o.available])
    return subtract(windows, [(o.starts_at, o.ends_at) for o in overrides if not o.available])


def floor_to_grid(instant: datetime, grid_minutes: int) -> datetime:
    epoch_minutes = int(instant.timestamp() // 60)
    return datetime.fromtimestamp((epoch_minutes - epoch_minutes % grid_minutes) * 60, UTC)


def cells(start: datetime, end: datetime, grid_minutes: int) -> list[datetime]:
    """Grid cells touched by [start, end): floor the start, keep going while before the end."""
    step = timedelta(minutes=grid_minutes)
    cell = floor_to_grid(start, grid_minutes)
    out = []
    while cell < end:
        out.append(cell)
        cell += step
    return out


def aligned_starts(window: Window, step_minutes: int, tz: ZoneInfo) -> Iterator[datetime]:
    """Start times inside ``window`` on the clinic's local step (08:00, 08:15, …)."""
    start, end = window
    local = start.astimezone(tz)
    minute_of_day = local.hour * 60 + local.minute
    skip = (-minute_of_day) % step_minutes
    candidate = start.replace(second=0, microsecond=0) + timedelta(minutes=skip)
    if candidate < start:
        candidate += timedelta(minutes=step_minutes)
    step = timedelta(minutes=step_minutes)
    while candidate < end:
        yield candidate
        candidate += step


@dataclass(frozen=True, slots=True)
class SlotShape:
    duration_minutes: int
    buffer_after_minutes: int
    step_minutes: int
    grid_minutes: int


def free_starts(
    windows: list[Window],
    busy_cells: set[datetime],
    shape: SlotShape,
    tz: ZoneInfo,
    not_before: datetime,
    not_after: datetime,
) -> Iterator[datetime]:
    """Starts where the visit fits inside working time and its cells (buffer included) are free.

    The buffer may run past the end of the window (cleanup after the last patient), but it
    may not overlap someone else's visit.
    """
    duration = timedelta(minutes=shape.duration_minutes)
    occupied = timedelta(minutes=shape.duration_minutes + shape.buffer_after_minutes)
    for window in windows:
        if window[1] <= not_before or window[0] > not_after:
            continue
        for start in aligned_starts(window, shape.step_minutes, tz):
            if start < not_before:
                continue
            if start > not_after or start + duration > window[1]:
                break
            if not any(c in busy_cells for c in cells(start, start + occupied, shape.grid_minutes)):
                yield start
