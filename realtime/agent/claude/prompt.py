"""The system prompt, assembled per clinic from its configuration.

Two blocks: the clinic's static instructions (identical on every call, so it is cached with
the tools) and the call's context (today's date, inbound or outbound), which changes per call
and so sits after the cache breakpoint. Availability is never here: only ``find_slots`` knows
it. Patient details arrive later, as ``lookup_patient`` results in the conversation.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from realtime.agent.protocol import ClinicProfile, Conversation

CACHED = {"type": "ephemeral"}
_DAYS = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
         "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}  # fmt: skip

RULES = """\
How you work:
- You are on a phone call: everything you write is spoken aloud. Plain sentences only, no
  lists, markdown, emoji or abbreviations. Be brief: one or two short sentences per reply, then
  let the caller talk. No filler ("Great question", "Absolutely", "I'd be happy to").
- Say times the way find_slots and lookup_patient give them in "spoken" ("Tuesday, March 3rd at
  9 AM"), never as digits or ISO dates. Offer at most two options at a time.
- Availability comes only from the find_slots tool. Never guess, promise or invent a time,
  and book only an option_id find_slots returned in this call.
- Before booking, rescheduling or cancelling, read the details back (day, date, time and
  provider) and wait for the caller's yes. If they hesitate or change anything, read back again.
- Identify the caller before touching their appointments: try lookup_patient with
  use_caller_phone first, confirm their first name, otherwise ask for full name and date of birth.
  New patients: collect first and last name, date of birth, and pass them as new_patient.
- Never discuss prices, bills, balances, payments or insurance costs: offer to transfer to the
  front desk (transfer_to_human). Insurance acceptance you may answer from the list below;
  coverage checks go through verify_insurance.
- Never give medical advice. If you are unsure, the caller is upset, or asks for a person,
  transfer with transfer_to_human. Emergencies: follow the emergency rules below at once.
- When the caller is done, say a short goodbye and call end_call."""


def _hours(profile: ClinicProfile) -> str:
    lines = []
    for key, day in _DAYS.items():
        intervals = profile.business_hours.get(key) or []
        spans = ", ".join(f"{start} to {end}" for start, end in intervals)
        lines.append(f"- {day}: {spans or 'closed'}")
    return "\n".join(lines)


def _services(profile: ClinicProfile) -> str:
    names = {p.id: p.name for p in profile.providers}
    lines = []
    for kind in profile.appointment_types:
        by = ", ".join(names[i] for i in kind.provider_ids if i in names)
        also = f" (also called {', '.join(kind.synonyms)})" if kind.synonyms else ""
        new = "; new patients only" if kind.new_patients_only else ""
        lines.append(
            f"- {kind.name}{also}: code {kind.code}, {kind.duration_minutes} minutes{new}"
            + (f"; with {by}" if by else "")
        )
    return "\n".join(lines) or "- (none configured)"


def static_prompt(profile: ClinicProfile) -> str:
    """Everything about the clinic the agent may say; the same text on every call."""
    faq = "\n".join(f"- {q}: {a}" for q, a in profile.faq.items()) or "- (none)"
    insurance = ", ".join(profile.accepted_insurance) or "(ask the front desk)"
    providers = "\n".join(f"- {p.name}" for p in profile.providers) or "- (none configured)"
    emergency = profile.emergency_instructions or (
        "If the caller describes an emergency, tell them to call 911 and transfer them."
    )
    return "\n\n".join(
        [
            f"You are {profile.agent_name}, the receptionist of {profile.name}, a "
            f"{profile.specialty} practice at {profile.address or 'the address on our website'}. "
            f"You answer the phone: book, move and cancel appointments, and answer questions.",
            RULES,
            f"Opening hours ({profile.time_zone}):\n{_hours(profile)}",
            f"Providers:\n{providers}",
            f"Appointment types (use the code with find_slots):\n{_services(profile)}",
            f"Insurance accepted: {insurance}.",
            f"Frequently asked questions:\n{faq}",
            f"Emergency rules: {emergency}",
        ]
    )


def call_context(conversation: Conversation) -> str:
    """What changes per call: when it is, and which way the call goes. No PHI."""
    local = conversation.now.astimezone(ZoneInfo(conversation.clinic.time_zone))
    when = f"{local:%A, %B} {local.day}, {local.year}, {local:%I:%M %p}".replace(" 0", " ")
    lines = [f"It is now {when} at the clinic."]
    if conversation.direction == "outbound":
        lines.append(
            f"You placed this call to the patient (purpose: {conversation.purpose or 'follow-up'})."
        )
    if conversation.caller_phone:
        lines.append("The caller's number is known: lookup_patient can use it.")
    return " ".join(lines)


def system_blocks(profile: ClinicProfile, conversation: Conversation) -> list[dict[str, Any]]:
    return [
        {"type": "text", "text": static_prompt(profile), "cache_control": CACHED},
        {"type": "text", "text": call_context(conversation)},
    ]
