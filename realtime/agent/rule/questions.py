"""Questions about the clinic, answered from its configuration: hours, location, FAQ entries,
accepted insurance, visit lengths, new patients. Never availability: that is ``find_slots``."""

from __future__ import annotations

from realtime.agent.protocol import ClinicProfile
from realtime.agent.rule.catalog import (
    asks_location,
    faq_topic,
    match_provider,
    match_type,
    mentioned_payers,
    new_patient_type,
)
from realtime.agent.rule.dates import WEEKDAY_PLURALS, WEEKDAYS
from realtime.agent.rule.intents import Intent
from realtime.agent.rule.speech import hours_text, insurance_text, location_text
from realtime.agent.rule.text import Utterance, normalize
from realtime.agent.rule.turn import Turn

_PRICE = ("how much", "cost", "costs", "price", "prices", "pricing", "fee", "fees")
_DURATION = ("how long", "how much time", "take long")
_NO_INSURANCE = (
    "dont have insurance", "dont have dental insurance", "no insurance", "not insured",
    "paying cash", "pay cash", "self pay", "out of pocket", "uninsured",
)  # fmt: skip
_NEW_PATIENTS = ("new patients", "taking patients", "accepting patients")


def _asked_weekday(utterance: Utterance, turn: Turn) -> int | None:
    for word, number in (*WEEKDAYS.items(), *WEEKDAY_PLURALS.items()):
        if utterance.has(word):
            return number
    if utterance.has("weekend", "weekends"):
        return 5
    if utterance.has("today"):
        return turn.env.today.weekday()
    if utterance.has("tomorrow"):
        return (turn.env.today.weekday() + 1) % 7
    return None


def _visit_facts(utterance: Utterance, clinic: ClinicProfile) -> list[str]:
    kind = match_type(utterance, clinic)
    if utterance.has(*_PRICE) and not utterance.has("insurance"):
        return ["I don't have prices in front of me, but our front desk can give you an estimate."]
    if utterance.has(*_DURATION) and kind is not None:
        return [f"A {kind.name} takes about {kind.duration_minutes} minutes."]
    return []


def _new_patients(utterance: Utterance, clinic: ClinicProfile) -> list[str]:
    if not utterance.has(*_NEW_PATIENTS):
        return []
    first_visit = new_patient_type(clinic)
    provider = match_provider(utterance, clinic)
    if provider is not None and first_visit is not None:
        if provider.id not in first_visit.provider_ids:
            return [f"{provider.name} isn't seeing new patients for a first visit right now."]
        return [f"Yes, {provider.name} is seeing new patients."]
    return ["Yes, we're happy to welcome new patients."]


def answer_questions(turn: Turn, utterance: Utterance, intents: set[Intent]) -> bool:
    """Say the answers to any clinic questions in the caller's words; True if there were any."""
    clinic = turn.clinic
    answers: list[str] = []
    if utterance.has(normalize(clinic.name), f"is this {normalize(clinic.name).split()[0]}"):
        answers.append(f"Yes, this is {clinic.name}.")
    if Intent.HOURS in intents:
        answers.append(hours_text(clinic, _asked_weekday(utterance, turn)))
    topic = faq_topic(utterance, clinic)
    if topic == "location" or (topic is None and asks_location(utterance)):
        answers.append(location_text(clinic))
    elif topic is not None and not utterance.has(*_NO_INSURANCE):
        answers.append(clinic.faq[topic])
    accepted, others = mentioned_payers(utterance, clinic)
    if utterance.has(*_NO_INSURANCE):
        payment = clinic.faq.get("payment", "")
        answers.append(f"That's fine, you don't need insurance to see us. {payment}".strip())
    elif Intent.INSURANCE in intents or accepted or others:
        answers.append(insurance_text(clinic, accepted, others))
    answers += _visit_facts(utterance, clinic) + _new_patients(utterance, clinic)
    for answer in answers:
        turn.say(answer)
    return bool(answers)
