"""What a caller wants, by keyword and phrase sets; emergencies first.

Phrases are matched as whole words on normalised text (see ``text.Utterance``), so
"reschedule" never matches inside another word and "it's"/"its" are the same.
"""

from __future__ import annotations

from enum import StrEnum

from realtime.agent.rule.text import Utterance


class Intent(StrEnum):
    BOOK = "book"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    CHECK = "check"
    HOURS = "hours"
    INSURANCE = "insurance"
    HUMAN = "human"
    BILLING = "billing"
    GOODBYE = "goodbye"
    THANKS = "thanks"
    NEW_PATIENT = "new_patient"
    RETURNING = "returning"
    CHANGE = "change"  # "actually ...": the caller is changing what they asked for
    REPEAT = "repeat"  # "say that again"
    HOLD = "hold"  # "hold on", "one moment"
    LATE = "late"  # running late for today's visit
    URGENT = "urgent"  # pain or damage that needs a prompt visit, short of an emergency


PHRASES: dict[Intent, tuple[str, ...]] = {
    Intent.HUMAN: (
        "talk to a person", "speak to a person", "speak with a person", "talk with a person",
        "talk to someone", "speak to someone", "speak with someone", "talk with someone",
        "talk to somebody", "speak to somebody", "real person", "actual person", "live person",
        "a human", "representative", "front desk", "operator", "receptionist", "live agent",
        "staff member", "transfer me", "someone at the office", "person please",
    ),
    Intent.BILLING: (
        "insurance cover", "insurance didnt cover", "didnt my insurance", "billing", "my bill",
        "the bill", "a bill", "bills", "invoice", "balance", "statement",
        "charged", "a charge", "refund", "i owe", "pay my", "overcharged", "copay", "co pay",
        "collections", "payment on my account",
    ),
    Intent.RESCHEDULE: (
        "reschedule", "re schedule", "move my", "move it", "move the appointment",
        "change my appointment", "change the appointment", "change my booking", "change the time",
        "change the day", "need to change it", "want to change it", "like to change it",
        "push back", "push my", "postpone", "rebook", "different time for my",
        "cant make it", "cannot make it", "cant make my", "cannot make my",
    ),
    Intent.CHECK: (
        "when is my appointment", "what time is my appointment", "when is my next appointment",
        "do i have an appointment", "check my appointment", "confirm my appointment",
        "when am i booked", "what day is my appointment", "when is my cleaning",
        "when is my checkup",
    ),
    Intent.CANCEL: ("cancel", "cancellation", "call off", "dont need the appointment"),
    Intent.BOOK: (
        "book", "booking", "appointment", "schedule", "set up", "come in", "get in",
        "see the dentist", "see a dentist", "see the doctor", "make an appt", "availability",
        "available", "openings", "opening", "an opening", "next available",
    ),
    Intent.HOURS: (
        "hours", "are you open", "you open", "youre open", "you guys open", "open today",
        "open tomorrow", "open late", "open on saturday", "open on sunday", "open on weekends",
        "open until", "you close", "closing", "closed", "what time do you", "when do you open",
        "when do you close",
    ),
    Intent.INSURANCE: (
        "insurance", "in network", "out of network", "coverage", "covered", "dental plan",
        "accept my", "take my", "insurer", "insurance plan",
    ),
    Intent.GOODBYE: (
        "bye", "goodbye", "good bye", "thats all", "that is all", "thats it", "that is it",
        "nothing else", "im all set", "im done", "have a good day", "have a nice day",
        "have a great day", "hang up", "that will be all", "thats everything", "no thats fine",
    ),
    Intent.THANKS: ("thank you", "thanks", "thank you so much", "appreciate it"),
    Intent.NEW_PATIENT: (
        "new patient", "first time", "never been", "havent been", "not a patient", "new here",
        "havent visited", "never visited", "not been there", "not been before", "im new",
        "i am new",
    ),
    Intent.RETURNING: (
        "existing patient", "current patient", "returning patient", "been there before",
        "been here before", "been before", "already a patient", "regular patient", "im a patient",
        "i am a patient", "been a patient", "been coming", "been seeing", "seen there",
    ),
    Intent.REPEAT: (
        "say that again", "repeat that", "come again", "didnt catch that", "didnt hear",
        "pardon", "what was that", "sorry what", "one more time", "what were the",
    ),
    Intent.HOLD: ("hold on", "one moment", "one sec", "one second", "just a second", "wait",
                  "give me a second", "hang on", "let me check", "let me think"),
    Intent.LATE: ("running late", "be late", "minutes late", "running behind", "stuck in traffic"),
    Intent.URGENT: (
        "toothache", "tooth hurts", "teeth hurt", "in pain", "lot of pain", "really hurts",
        "it hurts", "tooth pain", "chipped", "cracked", "lost a filling", "filling fell out",
        "crown fell off", "crown came off", "lost my crown", "abscess", "jaw hurts", "swollen",
        "swelling", "gums are bleeding", "cant sleep", "emergency", "had an accident",
        "broken tooth", "broke my tooth", "broke a tooth", "tooth is broken",
    ),
    Intent.CHANGE: ("actually", "instead", "rather", "change it", "make it", "how about",
                    "what about", "do you have anything", "anything on", "anything in"),
}  # fmt: skip


def classify(utterance: Utterance) -> set[Intent]:
    """Every intent the caller's words carry; the dialogue decides which one leads."""
    found = {intent for intent, phrases in PHRASES.items() if utterance.has(*phrases)}
    if Intent.NEW_PATIENT in found:
        found.discard(Intent.RETURNING)
    if found & {Intent.RESCHEDULE, Intent.CANCEL, Intent.CHECK}:
        found.discard(Intent.BOOK)  # "cancel my appointment" mentions an appointment
    stalling = {Intent.REPEAT, Intent.HOLD}
    if found & stalling and found - stalling and len(utterance.tokens) > 6:
        found -= stalling  # a longer sentence that also asks for something is about that
    if Intent.RESCHEDULE in found:
        found.discard(Intent.CHANGE)  # "I can't make it" is not "make it Thursday"
        if not utterance.has("cancel", "cancellation") or utterance.has("reschedule", "move"):
            found.discard(Intent.CANCEL)  # "cancel and rebook" is a reschedule
    return found


# --- emergencies ------------------------------------------------------------------------------

_SWELLING = ("swelling", "swollen", "swelled up", "puffy")
_FEVER = ("fever", "feverish", "temperature", "chills", "burning up")
_BREATHING = (
    "trouble breathing", "cant breathe", "can not breathe", "hard to breathe",
    "difficulty breathing", "struggling to breathe", "trouble swallowing", "cant swallow",
    "hard to swallow", "difficulty swallowing", "throat is closing",
)  # fmt: skip
_BLEEDING = ("bleeding", "bleed", "bleeds", "blood")
_UNCONTROLLED = (
    "wont stop", "will not stop", "cant stop", "doesnt stop", "not stopping", "keeps bleeding",
    "still bleeding", "uncontrolled", "nonstop", "non stop", "a lot", "heavily", "heavy",
    "so much", "everywhere", "hours", "wont quit",
)  # fmt: skip
_KNOCKED_OUT = ("knocked out", "knocked my tooth out", "knocked a tooth out", "tooth fell out",
                "tooth came out", "lost a tooth", "knocked loose")  # fmt: skip
_BROKEN = ("broken", "broke", "cracked", "chipped", "fractured", "snapped", "knocked")
_TOOTH = ("tooth", "teeth", "jaw", "front tooth", "molar")
_ACCIDENT = (
    "accident", "fell", "fall", "hit", "crash", "car", "bike", "bicycle", "sports", "game",
    "fight", "punched", "elbow", "injury", "injured", "trauma", "smashed", "collision",
    "tripped", "hockey", "football", "soccer", "basketball", "skateboard",
)  # fmt: skip


def emergency_reason(utterance: Utterance) -> str | None:
    """A short reason when the words describe a dental emergency, else None."""
    if utterance.has(*_BREATHING):
        return "trouble breathing or swallowing"
    if utterance.has(*_SWELLING) and utterance.has(*_FEVER):
        return "swelling with fever"
    if utterance.has(*_BLEEDING) and utterance.has(*_UNCONTROLLED):
        return "uncontrolled bleeding"
    if utterance.has(*_KNOCKED_OUT):
        return "knocked-out tooth"
    if utterance.has(*_BROKEN) and utterance.has(*_TOOTH) and utterance.has(*_ACCIDENT):
        return "broken tooth from an accident"
    return None
