"""The demo clinic as the speech tests see it, and word error rate."""

from __future__ import annotations

import json

from core.demo.seed import DEMO_CONFIG, SYNTHETIC_PATIENTS
from realtime.agent.protocol import AppointmentTypeInfo, ClinicProfile, ProviderInfo
from realtime.stt.protocol import Vocabulary


def demo_profile() -> ClinicProfile:
    config = json.loads(DEMO_CONFIG.read_text())
    return ClinicProfile(
        clinic_id="bright-smile",
        name=config["name"],
        agent_name=config["agent_name"],
        greeting=config["greeting"],
        time_zone=config["time_zone"],
        address=config["address"],
        business_hours=config["business_hours"],
        faq=config["faq"],
        accepted_insurance=tuple(config["accepted_insurance"]),
        providers=tuple(ProviderInfo(p["key"], p["name"]) for p in config["providers"]),
        appointment_types=tuple(
            AppointmentTypeInfo(
                code=t["code"],
                name=t["name"],
                duration_minutes=t["duration_minutes"],
                new_patients_only=t.get("new_patients_only", False),
                synonyms=tuple(t["synonyms"]),
                provider_ids=tuple(t["providers"]),
            )
            for t in config["appointment_types"]
        ),
        emergency_instructions=config["emergency_instructions"],
        transfer_number=config["transfer_number"],
    )


def demo_vocabulary() -> Vocabulary:
    return Vocabulary.from_profile(demo_profile(), [(p[0], p[1]) for p in SYNTHETIC_PATIENTS])


def word_errors(reference: str, hypothesis: str) -> int:
    """Levenshtein distance in words (substitutions + deletions + insertions)."""
    ref, hyp = reference.split(), hypothesis.split()
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]
