"""What the clinic offers, matched against caller words: visit types, providers, insurance
payers and FAQ topics. Everything comes from the ``ClinicProfile``, so any clinic works."""

from __future__ import annotations

from realtime.agent.protocol import AppointmentTypeInfo, ClinicProfile, ProviderInfo
from realtime.agent.rule.dates import MONTHS
from realtime.agent.rule.names import looks_like_name
from realtime.agent.rule.text import Utterance, normalize

_TITLES = frozenset({"dr", "doctor", "dds", "dmd", "rdh", "md", "do", "np", "pa"})
_NO_PROVIDER_PREFERENCE = (
    "anyone",
    "anybody",
    "any provider",
    "any doctor",
    "any dentist",
    "whoever",
    "doesnt matter who",
    "dont mind who",
    "whoevers available",
    "whoever is available",
)
# Payers callers often ask about; any not in the clinic's list is answered with a "no".
_OTHER_PAYERS = (
    "humana",
    "united healthcare",
    "unitedhealthcare",
    "blue cross",
    "blue shield",
    "medicaid",
    "medicare",
    "anthem",
    "ameritas",
    "principal",
    "tricare",
    "kaiser",
    "united concordia",
    "careington",
)
_FAQ_HINTS: dict[str, tuple[str, ...]] = {
    "parking": ("parking", "park"),
    "payment": (
        "payment",
        "payments",
        "pay",
        "credit card",
        "credit cards",
        "cards",
        "cash",
        "financing",
        "payment plan",
        "payment plans",
    ),
    "location": (
        "where",
        "address",
        "located",
        "location",
        "directions",
        "find you",
        "get there",
    ),
}


def _phrases(kind: AppointmentTypeInfo) -> set[str]:
    return {normalize(p) for p in (kind.name, kind.code.replace("-", " "), *kind.synonyms)}


def match_type(utterance: Utterance, clinic: ClinicProfile) -> AppointmentTypeInfo | None:
    """The visit type the caller named; the longest matching phrase wins."""
    best: tuple[int, AppointmentTypeInfo] | None = None
    for kind in clinic.appointment_types:
        for phrase in _phrases(kind):
            if phrase and utterance.has(phrase) and (best is None or len(phrase) > best[0]):
                best = (len(phrase), kind)
    return best[1] if best else None


def type_by_code(clinic: ClinicProfile, code: str | None) -> AppointmentTypeInfo | None:
    return next((k for k in clinic.appointment_types if k.code == code), None)


def type_by_name(clinic: ClinicProfile, name: str) -> AppointmentTypeInfo | None:
    """The type a ``lookup_patient`` result names (it gives the type's display name)."""
    wanted = normalize(name)
    for kind in clinic.appointment_types:
        if wanted in _phrases(kind):
            return kind
    return match_type(Utterance(name), clinic)


def _words(text: str) -> set[str]:
    return set(normalize(text).split())


def fit_type(
    kind: AppointmentTypeInfo, is_new: bool | None, clinic: ClinicProfile
) -> AppointmentTypeInfo:
    """A new patient asking for an exam gets the new-patient exam, and a returning patient
    asking for a new-patient-only visit gets its regular counterpart, when the clinic has one."""
    if is_new and not kind.new_patients_only:
        for other in clinic.appointment_types:
            if other.new_patients_only and _words(kind.code) <= _words(other.name):
                return other
    if is_new is False and kind.new_patients_only:
        for other in clinic.appointment_types:
            if not other.new_patients_only and _words(other.code) <= _words(kind.name):
                return other
    return kind


def urgent_type(clinic: ClinicProfile) -> AppointmentTypeInfo | None:
    """The visit for pain or damage that cannot wait ("emergency visit"), if the clinic has one."""
    for kind in clinic.appointment_types:
        if {"emergency", "urgent"} & set().union(*(p.split() for p in _phrases(kind))):
            return kind
    return None


def new_patient_type(clinic: ClinicProfile) -> AppointmentTypeInfo | None:
    return next((k for k in clinic.appointment_types if k.new_patients_only), None)


def provider_words(provider_name: str) -> set[str]:
    return _words(provider_name) - _TITLES


def match_provider(utterance: Utterance, clinic: ClinicProfile) -> ProviderInfo | None:
    """The provider the caller named, by last name first, then by first name."""
    mentioned = set(utterance.tokens)
    by_last = [p for p in clinic.providers if normalize(p.name).split()[-1] in mentioned]
    if len(by_last) == 1:
        return by_last[0]
    by_any = [p for p in clinic.providers if provider_words(p.name) & mentioned]
    return by_any[0] if len(by_any) == 1 else None


def unknown_doctor(utterance: Utterance, clinic: ClinicProfile) -> str | None:
    """The name in "Dr. Smith" when the clinic has no such provider."""
    known = {word for p in clinic.providers for word in provider_words(p.name)}
    tokens = utterance.tokens
    for i, token in enumerate(tokens[:-1]):
        name = tokens[i + 1]
        is_stranger = name not in known and name not in MONTHS and looks_like_name(name)
        if token in ("dr", "doctor") and is_stranger:
            return name.title()
    return None


def no_provider_preference(utterance: Utterance) -> bool:
    return utterance.has(*_NO_PROVIDER_PREFERENCE)


def _collapsed(text: str) -> str:
    return normalize(text).replace(" ", "")


def mentioned_payers(utterance: Utterance, clinic: ClinicProfile) -> tuple[list[str], list[str]]:
    """(accepted payers named, other payers named)."""
    said = utterance.norm.replace(" ", "")
    accepted = [p for p in clinic.accepted_insurance if _collapsed(p) in said]
    if not accepted:  # "delta" for "Delta Dental"
        accepted = [
            p
            for p in clinic.accepted_insurance
            if len(first := normalize(p).split()[0]) > 4 and utterance.has(first)
        ]
    others: list[str] = []
    for payer in _OTHER_PAYERS:
        key = _collapsed(payer)
        if key in said and not any(key in _collapsed(p) for p in [*accepted, *others]):
            others.append(payer)  # "unitedhealthcare" once, not as two payers
    return accepted, others


def faq_topic(utterance: Utterance, clinic: ClinicProfile) -> str | None:
    """The clinic FAQ entry the caller asks about, if any."""
    for key in clinic.faq:
        hints = (*_FAQ_HINTS.get(key, ()), normalize(key))
        if utterance.has(*hints):
            return key
    return None


def asks_location(utterance: Utterance) -> bool:
    return utterance.has(*_FAQ_HINTS["location"])
