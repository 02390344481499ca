"""Outreach message templates: checked when saved, rendered for every target before a campaign
sends anything, and limited to the minimum necessary (who, when, how to reply; never why).

Placeholders are ``{name}`` fields from ``FIELDS``; anything else is refused with its name.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime

from core.messages import spoken_time

FIELDS = {
    "first_name": "the patient's first name",
    "clinic_name": "the clinic's name",
    "clinic_phone": "the clinic's phone number",
    "appointment_time": "the appointment's day and time (appointment campaigns only)",
    "provider": "the appointment's provider (appointment campaigns only)",
    "reschedule_link": "the clinic's reschedule link",
}
NEEDS_APPOINTMENT = {"appointment_time", "provider"}
MAX_SMS_CHARS = 320  # two segments: longer texts split badly and cost more
OPT_OUT_NOTICE = " Reply STOP to opt out."

BUILTIN = {
    "reminder": (
        "{clinic_name}: reminder of your appointment on {appointment_time}. "
        "Reply C to confirm or R to reschedule."
    ),
    "confirm": (
        "{clinic_name}: please confirm your appointment on {appointment_time}. "
        "Reply C to confirm or R to reschedule."
    ),
    "recall": (
        "{clinic_name}: hi {first_name}, it's time to book your next visit. "
        "Reply R and we'll help you find a time, or call {clinic_phone}."
    ),
    "no_show": (
        "{clinic_name}: hi {first_name}, we missed you at your recent visit. "
        "Reply R to rebook, or call {clinic_phone}."
    ),
    "voicemail": (
        "Hello, this is {clinic_name} calling for {first_name}. "
        "Please call us back at {clinic_phone} at your convenience. Thank you, goodbye."
    ),
    "confirmed": "{clinic_name}: thank you, your appointment is confirmed.",
    "reschedule_link": "{clinic_name}: choose a new time here: {reschedule_link}",
    "call_back": "{clinic_name}: thanks, our team will call you to find a new time.",
}


class TemplateError(ValueError):
    """A template that cannot be used; the message names the template and the problem."""


@dataclass(frozen=True)
class TemplateContext:
    clinic_name: str
    clinic_phone: str
    time_zone: str
    first_name: str = ""
    appointment_at: datetime | None = None
    provider: str = ""
    reschedule_link: str = ""


def placeholders(text: str, where: str = "template") -> set[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"{where}: {exc} (write literal braces as {{{{ and }}}})") from None
    names: set[str] = set()
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            allowed = ", ".join("{" + f + "}" for f in FIELDS)
            raise TemplateError(f"{where}: unknown placeholder {{{name}}}; use {allowed}")
        if spec or conversion:
            raise TemplateError(f"{where}: {{{name}}} takes no format options")
        names.add(name)
    return names


def check_template(text: str, *, where: str = "template", appointments: bool = True) -> None:
    """Refuse a template that could not render: bad syntax, unknown placeholders, appointment
    placeholders in a campaign about patients rather than appointments, or an empty text."""
    if not text.strip():
        raise TemplateError(f"{where}: is empty")
    names = placeholders(text, where)
    if not appointments and names & NEEDS_APPOINTMENT:
        bad = ", ".join("{" + n + "}" for n in sorted(names & NEEDS_APPOINTMENT))
        raise TemplateError(f"{where}: {bad} needs an appointment, and these targets have none")


def template_text(name: str, overrides: dict[str, str]) -> str:
    text = overrides.get(name) or BUILTIN.get(name)
    if text is None:
        raise TemplateError(f"no template named {name!r}; built-in: {', '.join(BUILTIN)}")
    return text


def render(text: str, ctx: TemplateContext, *, where: str = "template", sms: bool = True) -> str:
    """The message for one recipient; ``TemplateError`` when a value it needs is missing."""
    names = placeholders(text, where)
    values = {
        "first_name": ctx.first_name,
        "clinic_name": ctx.clinic_name,
        "clinic_phone": ctx.clinic_phone,
        "provider": ctx.provider,
        "reschedule_link": ctx.reschedule_link,
        "appointment_time": (
            spoken_time(ctx.appointment_at, ctx.time_zone) if ctx.appointment_at else ""
        ),
    }
    missing = sorted(n for n in names if not values[n])
    if missing:
        raise TemplateError(f"{where}: no value for {', '.join('{' + n + '}' for n in missing)}")
    body = text.format_map(values).strip()
    if sms and "STOP" not in body.upper():
        body += OPT_OUT_NOTICE
    if sms and len(body) > MAX_SMS_CHARS:
        raise TemplateError(f"{where}: renders to {len(body)} characters (at most {MAX_SMS_CHARS})")
    return body
