"""Intent and emergency classification from recognised speech (lower case, no punctuation)."""

from __future__ import annotations

import pytest

from realtime.agent.rule.intents import Intent, classify, emergency_reason
from realtime.agent.rule.text import Utterance, normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("i'd like to book a cleaning", {Intent.BOOK}),
        ("can i make an appointment", {Intent.BOOK}),
        ("i need to reschedule my appointment", {Intent.RESCHEDULE}),
        ("can i move my cleaning to friday", {Intent.RESCHEDULE}),
        ("i can't make it on tuesday", {Intent.RESCHEDULE}),
        ("i need to cancel my appointment", {Intent.CANCEL}),
        ("when is my appointment", {Intent.CHECK}),
        ("what are your hours", {Intent.HOURS}),
        ("are you open on saturday", {Intent.HOURS}),
        ("do you take my insurance", {Intent.INSURANCE}),
        ("can i talk to a person", {Intent.HUMAN}),
        ("representative", {Intent.HUMAN}),
        ("operator", {Intent.HUMAN}),
        ("put me through to the front desk", {Intent.HUMAN}),
        ("i have a question about my bill", {Intent.BILLING}),
        ("why was i charged twice", {Intent.BILLING}),
        ("ok bye", {Intent.GOODBYE}),
        ("no that's all thank you", {Intent.GOODBYE, Intent.THANKS}),
        ("i'm a new patient", {Intent.NEW_PATIENT}),
        ("i've been there before", {Intent.RETURNING}),
        ("actually make it thursday", {Intent.CHANGE}),
        ("peter brown", set()),
    ],
)
def test_classify(text: str, expected: set[Intent]) -> None:
    assert classify(Utterance(text)) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("my face is swollen and i have a fever", "swelling with fever"),
        ("there's a lot of swelling and i'm running a temperature", "swelling with fever"),
        ("my gums are bleeding and it won't stop", "uncontrolled bleeding"),
        ("i've been bleeding heavily since the extraction", "uncontrolled bleeding"),
        ("my son knocked out a tooth", "knocked-out tooth"),
        ("i fell and broke my front tooth", "broken tooth from an accident"),
        ("i cracked a tooth in a car accident", "broken tooth from an accident"),
        ("my jaw is swollen and i can't swallow", "trouble breathing or swallowing"),
        ("i have a toothache", None),
        ("i broke a tooth eating popcorn", None),  # urgent, but a visit rather than the ER
        ("my gums bleed a little when i brush", None),
        ("i need a cleaning", None),
    ],
)
def test_emergencies(text: str, reason: str | None) -> None:
    assert emergency_reason(Utterance(text)) == reason


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("It's 9:15 A.M., right?", "its 9:15 am right"),
        ("three p m", "three pm"),
        ("I am a new patient", "i am a new patient"),
        ("twenty-four", "twenty four"),
        ("03/03/1980", "03/03/1980"),
        ("O'Clock", "oclock"),
        ("3pm", "3 pm"),
        ("Dr. Patel", "dr patel"),
    ],
)
def test_normalize(raw: str, normalized: str) -> None:
    assert normalize(raw) == normalized
