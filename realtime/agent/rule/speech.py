"""What the receptionist says: short spoken sentences, no lists or markup.

Times spoken here always come from tool results (the ``spoken`` fields); the only clock times
composed locally are the clinic's configured business hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from realtime.agent.protocol import ClinicProfile
from realtime.agent.rule.dates import DayWish
from realtime.agent.rule.state import Offer, Upcoming

DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def join_and(items: Sequence[str], word: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} {word} {items[1]}"
    return f"{', '.join(items[:-1])}, {word} {items[-1]}"


def ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def spoken_date(day: date) -> str:
    return f"{DAY_NAMES[day.weekday()]}, {day:%B} {ordinal(day.day)}"


def day_of(spoken: str) -> str:
    """'Tuesday, November 24th' from 'Tuesday, November 24th at 9:15 AM'."""
    return spoken.split(" at ", 1)[0]


def clock_of(spoken: str) -> str:
    """'9:15 AM' from 'Tuesday, November 24th at 9:15 AM'."""
    return spoken.split(" at ", 1)[1] if " at " in spoken else spoken


# --- offers and read-backs ----------------------------------------------------------------------


def offers_text(offers: Sequence[Offer]) -> str:
    """The options as one or two sentences; days and providers said once when shared."""
    if len(offers) == 1:
        only = offers[0]
        return f"I have {only.spoken} with {only.provider}. Would that work for you?"
    same_provider = len({o.provider for o in offers}) == 1
    tail = f" with {offers[0].provider}" if same_provider else ""

    def item(offer: Offer, text: str) -> str:
        return text if same_provider else f"{text} with {offer.provider}"

    if len({day_of(o.spoken) for o in offers}) == 1:
        times = join_and([item(o, clock_of(o.spoken)) for o in offers], "or")
        return f"On {day_of(offers[0].spoken)}, I have {times}{tail}. Which would you like?"
    items = ", or ".join(item(o, o.spoken) for o in offers)
    return f"I have {items}{tail}. Which would you like?"


def booking_read_back(type_name: str, offer: Offer, patient: str | None) -> str:
    who = f" for {patient}" if patient else ""
    return (
        f"Just to confirm, a {type_name}{who} with {offer.provider} on {offer.spoken}. "
        "Shall I book that?"
    )


def reschedule_read_back(target: Upcoming, offer: Offer) -> str:
    return (
        f"Just to confirm, I'll move your {target.type_name} from {target.spoken} "
        f"to {offer.spoken} with {offer.provider}. Shall I go ahead?"
    )


def cancel_read_back(target: Upcoming) -> str:
    return (
        f"Just to confirm, you'd like to cancel your {target.type_name} with {target.provider} "
        f"on {target.spoken}. Is that right?"
    )


def upcoming_text(upcoming: Sequence[Upcoming]) -> str:
    items = [f"a {u.type_name} on {u.spoken}" for u in upcoming]
    return f"I see {join_and(items)}."


def days_phrase(days: DayWish | None, day_part: str | None) -> str:
    """'afternoon openings on Tuesday, November 24th', for saying nothing is free."""
    part = f"{day_part} " if day_part else ""
    if days is None or days == DayWish():
        return f"{part}openings for that in the coming weeks"
    if days.single_day is not None:
        return f"{part}openings on {spoken_date(days.single_day)}"
    if days.weekday is not None:
        return f"{part}openings on {DAY_NAMES[days.weekday]}s"
    if days.first is not None and days.last is not None:
        return (
            f"{part}openings between {days.first:%B} {ordinal(days.first.day)} "
            f"and {days.last:%B} {ordinal(days.last.day)}"
        )
    return f"{part}openings then"


# --- clinic information -------------------------------------------------------------------------


def _clock(hhmm: str) -> str:
    hour, minute = (int(x) for x in hhmm.split(":"))
    suffix = "AM" if hour < 12 else "PM"
    shown = hour % 12 or 12
    return f"{shown} {suffix}" if minute == 0 else f"{shown}:{minute:02d} {suffix}"


def _day_hours(clinic: ClinicProfile, index: int) -> str | None:
    spans = clinic.business_hours.get(DAY_KEYS[index]) or clinic.business_hours.get(
        DAY_NAMES[index].lower()
    )
    if not spans:
        return None
    return " and ".join(f"{_clock(a)} to {_clock(b)}" for a, b in spans)


def hours_text(clinic: ClinicProfile, weekday: int | None = None) -> str:
    if weekday is not None:
        hours = _day_hours(clinic, weekday)
        if hours is None:
            return f"We're closed on {DAY_NAMES[weekday]}s."
        return f"On {DAY_NAMES[weekday]}s we're open from {hours}."
    groups: dict[str, list[str]] = {}
    closed: list[str] = []
    for index, name in enumerate(DAY_NAMES):
        hours = _day_hours(clinic, index)
        if hours is None:
            closed.append(name)
        else:
            groups.setdefault(hours, []).append(name)
    if not groups:
        return "I don't have our opening hours to hand. Our front desk can tell you."
    parts = [f"{join_and(days)} from {hours}" for hours, days in groups.items()]
    text = f"We're open {join_and(parts)}."
    if closed:
        text += f" We're closed {join_and(closed)}."
    return text


def insurance_text(clinic: ClinicProfile, accepted: Sequence[str], others: Sequence[str]) -> str:
    plans = join_and(list(clinic.accepted_insurance))
    if accepted and not others:
        return f"Yes, we accept {join_and(list(accepted))}."
    if others:
        return (
            f"I'm sorry, {join_and([o.title() for o in others], 'or')} isn't on our list. "
            f"We accept {plans}."
        )
    if not clinic.accepted_insurance:
        return "Our front desk can check your insurance for you."
    return f"We accept {plans}. If your plan isn't listed, our front desk can check for you."


def location_text(clinic: ClinicProfile) -> str:
    return clinic.faq.get("location") or f"We're at {clinic.address}."


def goodbye_text(clinic: ClinicProfile) -> str:
    return f"Thanks for calling {clinic.name}. Have a great day!"
