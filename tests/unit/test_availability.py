from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.scheduling.availability import (
    Override,
    SlotShape,
    WeeklyRule,
    aligned_starts,
    cells,
    free_starts,
    merge,
    subtract,
    working_windows,
)

NY = ZoneInfo("America/New_York")
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # UTC+05:45


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekly_rule_becomes_utc_window_in_winter_and_summer() -> None:
    monday_9_to_5 = [WeeklyRule(0, time(9), time(17))]
    winter = working_windows(monday_9_to_5, [], set(), NY, date(2026, 1, 5), date(2026, 1, 5))
    summer = working_windows(monday_9_to_5, [], set(), NY, date(2026, 7, 6), date(2026, 7, 6))
    assert winter == [(utc(2026, 1, 5, 14), utc(2026, 1, 5, 22))]
    assert summer == [(utc(2026, 7, 6, 13), utc(2026, 7, 6, 21))]


def test_dst_spring_forward_day_is_one_hour_shorter() -> None:
    # 2026-03-08: clocks jump from 02:00 to 03:00 in New York.
    rule = [WeeklyRule(6, time(0, 0), time(6, 0))]
    [(start, end)] = working_windows(rule, [], set(), NY, date(2026, 3, 8), date(2026, 3, 8))
    assert end - start == timedelta(hours=5)
    local = [s.astimezone(NY) for s in aligned_starts((start, end), 60, NY)]
    assert [t.hour for t in local] == [0, 1, 3, 4, 5]


def test_dst_fall_back_day_is_one_hour_longer_and_repeats_local_times() -> None:
    # 2026-11-01: 01:00-02:00 happens twice in New York.
    rule = [WeeklyRule(6, time(0, 0), time(4, 0))]
    [(start, end)] = working_windows(rule, [], set(), NY, date(2026, 11, 1), date(2026, 11, 1))
    assert end - start == timedelta(hours=5)
    starts = list(aligned_starts((start, end), 60, NY))
    assert len(starts) == 5 and len(set(starts)) == 5
    assert [s.astimezone(NY).hour for s in starts] == [0, 1, 1, 2, 3]


def test_holidays_remove_the_weekly_hours() -> None:
    rules = [WeeklyRule(d, time(9), time(12)) for d in range(5)]
    windows = working_windows(
        rules, [], {date(2026, 12, 25)}, NY, date(2026, 12, 21), date(2026, 12, 25)
    )
    assert len(windows) == 4
    assert all(w[0].astimezone(NY).date() != date(2026, 12, 25) for w in windows)


def test_time_off_splits_a_window_and_extra_hours_add_one() -> None:
    rules = [WeeklyRule(0, time(9), time(17))]
    off = Override(utc(2026, 1, 5, 17), utc(2026, 1, 5, 18), available=False)  # 12:00-13:00 local
    extra = Override(utc(2026, 1, 10, 14), utc(2026, 1, 10, 16), available=True)  # Saturday
    windows = working_windows(rules, [off, extra], set(), NY, date(2026, 1, 5), date(2026, 1, 10))
    assert windows == [
        (utc(2026, 1, 5, 14), utc(2026, 1, 5, 17)),
        (utc(2026, 1, 5, 18), utc(2026, 1, 5, 22)),
        (utc(2026, 1, 10, 14), utc(2026, 1, 10, 16)),
    ]


def test_validity_dates_bound_a_rule() -> None:
    rule = WeeklyRule(
        0, time(9), time(10), valid_from=date(2026, 1, 12), valid_until=date(2026, 1, 19)
    )
    windows = working_windows([rule], [], set(), NY, date(2026, 1, 5), date(2026, 1, 26))
    assert [w[0].astimezone(NY).date() for w in windows] == [date(2026, 1, 12), date(2026, 1, 19)]


def test_merge_and_subtract() -> None:
    a, b, c = utc(2026, 1, 1, 9), utc(2026, 1, 1, 10), utc(2026, 1, 1, 11)
    assert merge([(b, c), (a, b)]) == [(a, c)]
    assert subtract([(a, c)], [(a, b)]) == [(b, c)]
    assert subtract([(a, b)], [(b, c)]) == [(a, b)]


def test_cells_cover_partial_grid_conservatively() -> None:
    start = utc(2026, 1, 1, 9, 7)
    assert cells(start, start + timedelta(minutes=10), 5) == [
        utc(2026, 1, 1, 9, 5),
        utc(2026, 1, 1, 9, 10),
        utc(2026, 1, 1, 9, 15),
    ]


def test_starts_align_to_local_clock_in_a_quarter_hour_zone() -> None:
    window = (utc(2026, 1, 5, 3, 15), utc(2026, 1, 5, 5, 15))  # 09:00-11:00 in Kathmandu
    local = [
        s.astimezone(KATHMANDU).strftime("%H:%M") for s in aligned_starts(window, 30, KATHMANDU)
    ]
    assert local == ["09:00", "09:30", "10:00", "10:30"]


def test_free_starts_respect_duration_buffer_busy_cells_and_notice() -> None:
    window = (utc(2026, 1, 5, 14), utc(2026, 1, 5, 17))  # 09:00-12:00
    shape = SlotShape(duration_minutes=60, buffer_after_minutes=15, step_minutes=30, grid_minutes=5)
    all_free = list(free_starts([window], set(), shape, NY, utc(2026, 1, 1), utc(2026, 2, 1)))
    # The visit must end by 12:00; its buffer may run past the window.
    assert [s.astimezone(NY).strftime("%H:%M") for s in all_free] == [
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "11:00",
    ]

    busy = set(cells(utc(2026, 1, 5, 15, 30), utc(2026, 1, 5, 15, 45), 5))  # 10:30-10:45 taken
    free = list(free_starts([window], busy, shape, NY, utc(2026, 1, 5, 14, 10), utc(2026, 2, 1)))
    # 09:00 is before the notice; 09:30's buffer needs 10:30-10:45; 10:00 and 10:30 overlap.
    assert [s.astimezone(NY).strftime("%H:%M") for s in free] == ["11:00"]
